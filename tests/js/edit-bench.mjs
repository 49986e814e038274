// One-line edit of a section with a large attachment: time and bytes stored at
// the relay. Usage: node tests/js/edit-bench.mjs <package dir, e.g. $PWD/pkg> [MiB]
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { startServer } from "./server.mjs";
const pkg = process.argv[2];
const mb = Number(process.argv[3] ?? 300);
const S = await import(join(pkg, "index.js"));
const server = await startServer();
const dir = join(server.data, "relay", "blobs");
const bytes = () => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
try {
  await S.init();
  const c = new S.Client({ baseUrl: server.url });
  await c.connect();
  const me = S.Identity.generate();
  await c.register(me);
  const record = await new S.Patient(c, me).createRecord();
  const scan = new Uint8Array(mb << 20);
  for (let i = 0; i < scan.length; i += 4096) scan[i] = i & 0xff;
  let t = performance.now();
  await record.write([{ name: "imaging", text: "MRI of the left knee.", files: [{ name: "knee.dcm", type: "application/dicom", bytes: scan }] }]);
  const first = performance.now() - t;
  const b0 = bytes();
  t = performance.now();
  await record.write([{ name: "imaging", text: "MRI of the left knee, no tear.", keep: [0] }]);
  const edit = performance.now() - t;
  const b1 = bytes();
  console.log(JSON.stringify({ pkg, mb, firstWriteMs: Math.round(first), editMs: Math.round(edit), storedBeforeEdit: b0, storedByEdit: b1 - b0 }));
} finally {
  await server.stop();
}
