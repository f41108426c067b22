import { openDatabase, type DatabaseTarget } from '../../store/db';

/** A process that opens (and so migrates) the store named by argv[2] (JSON), then exits. */
async function main(): Promise<void> {
  const target = JSON.parse(process.argv[2]!) as DatabaseTarget;
  const store = await openDatabase(target);
  await store.close();
  process.stdout.write('opened\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
