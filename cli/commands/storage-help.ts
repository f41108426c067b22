// The text of `dim storage --help`, apart from storage.ts so that `dim --help` need not load
// the cloud SDKs to show it.
export const STORAGE_HELP = `Usage: dim storage check URI [--class NAME]... [--json]

Checks that dim can use a storage location (file:///abs/path, s3://bucket/prefix,
gs://bucket/prefix) with the configured endpoints and credentials: the endpoint answers,
the credentials are accepted, the bucket exists, and dim can list, write, read back and
delete a small probe object (.dim-check-<random>, always removed again).

Storage classes: the report names the class the bucket gives by default and every class
dim accepts for the scheme; --class NAME (repeatable) verifies a class by writing one more
probe with it, --class all tries them all (on real clouds archive classes bill a minimum
storage duration even for a probe deleted at once).

Options:
  --class NAME  verify this storage class too (repeatable; "all" for every class)
  --json        print the whole report as one JSON object on stdout

Exit status: 0 when every check passed; 1 when one failed (one line on stderr says what
is wrong and what to do next); 2 for a bad URI, class name or option.

Endpoints and credentials come from the environment only: S3_ENDPOINT, AWS_REGION,
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, roles); STORAGE_EMULATOR_HOST,
GCS_PROJECT_ID, Application Default Credentials; DIM_FILE_ROOTS for file://.
`;

/** The help without its usage line and options (commander prints those itself). */
export const STORAGE_NOTES = STORAGE_HELP.split('\n\n')
  .filter((p) => !p.startsWith('Usage:') && !p.startsWith('Options:'))
  .join('\n\n');
