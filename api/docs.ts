import path from 'node:path';
import express, { Router } from 'express';

/**
 * Interactive API docs at `/docs`: Swagger UI's static files from the swagger-ui-dist
 * package (no CDN), pointed at `/openapi.json`. Open like the document itself.
 */
const INDEX = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>dim API · docs</title>
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <link rel="stylesheet" href="./swagger-ui.css" />
    <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./dim-init.js" charset="UTF-8"></script>
  </body>
</html>
`;

const INIT = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '../openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
};
`;

export function docsRouter(): Router {
  const dist = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  const router = Router();
  router.get('/docs', (req, res, next) => {
    // Relative asset paths need the trailing slash.
    if (req.originalUrl.split('?')[0] === '/docs') return res.redirect(301, '/docs/');
    next();
  });
  router.get('/docs/', (_req, res) => {
    res.type('html').send(INDEX);
  });
  router.get('/docs/dim-init.js', (_req, res) => {
    res.type('application/javascript').send(INIT);
  });
  router.use('/docs', express.static(dist, { index: false, fallthrough: true }));
  return router;
}
