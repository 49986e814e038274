// Creating, unlocking, restoring and backing up the identity kept in this
// browser.
import * as S from "/pkg/index.js";
import { $, action, download, say } from "./ui.js";
import { forgetKey, loadKey, saveKey } from "./keys.js";

/** Wires the identity forms; `enter(identity)` opens the portal for it. */
export function setupIdentity(enter) {
  /** Keeps the wrapped seed of `id` in this browser, then opens the portal. */
  const keep = async (wrapped, id, message) => {
    await saveKey({ wrapped, id: id.id, fingerprint: id.fingerprint });
    say(message);
    await enter(id);
  };

  $("create-form").addEventListener(
    "submit",
    action(async () => {
      const pass = $("create-pass").value;
      if (pass !== $("create-pass2").value) throw new S.SesphrError("mismatch", "The passphrases differ.");
      say("Creating your keys (this takes a moment: the passphrase is stretched with Argon2id)…");
      const id = S.Identity.generate();
      await keep(id.wrap(pass), id, "Identity created. Back it up: without the backup file and passphrase it cannot be recovered.");
    }),
  );

  $("unlock-form").addEventListener(
    "submit",
    action(async () => {
      say("Unlocking…");
      const stored = await loadKey();
      let id;
      try {
        id = S.Identity.unwrap(stored.wrapped, $("unlock-pass").value);
      } catch (e) {
        if (e.code === "decryption_failed") throw new S.SesphrError("wrong_passphrase", "Wrong passphrase. Try again.");
        throw e;
      }
      say("");
      await enter(id);
    }),
  );

  $("forget").addEventListener(
    "click",
    action(async () => {
      if (!confirm("Remove the identity from this browser? Without a backup file it is lost.")) return;
      await forgetKey();
      location.reload();
    }),
  );

  $("restore-form").addEventListener(
    "submit",
    action(async () => {
      const file = $("restore-file").files[0];
      let backup;
      try {
        backup = JSON.parse(await file.text());
      } catch {
        throw new S.SesphrError("malformed_backup", "This is not a SeSPHR backup file.");
      }
      if (backup.format !== "sesphr-identity" || typeof backup.wrappedSeed !== "string") {
        throw new S.SesphrError("malformed_backup", "This is not a SeSPHR backup file.");
      }
      say("Opening the backup…");
      let wrapped;
      let id;
      try {
        wrapped = S.fromHex(backup.wrappedSeed);
        id = S.Identity.unwrap(wrapped, $("restore-pass").value);
      } catch (e) {
        // A wrong passphrase and a damaged file look alike (decryption_failed);
        // anything else means the file is not a backup this page can read.
        if (e.code === "decryption_failed") throw e;
        throw new S.SesphrError("malformed_backup", "This is not a SeSPHR backup file, or it is damaged.");
      }
      await keep(wrapped, id, "Identity restored.");
    }),
  );

  $("backup").addEventListener(
    "click",
    action(async () => {
      const k = await loadKey();
      const text = JSON.stringify(
        { format: "sesphr-identity", version: 1, id: k.id, fingerprint: k.fingerprint, wrappedSeed: S.toHex(k.wrapped) },
        null,
        2,
      );
      download(new Blob([text], { type: "application/json" }), `sesphr-${k.id.slice(0, 8)}.sesphr-key`);
      say("Backup file saved. It is encrypted under your passphrase; keep both safe.");
    }),
  );
}

/** The identity this browser holds, if any: shown on the start view. */
export async function showStored() {
  const stored = await loadKey();
  if (stored) {
    $("stored-fp").textContent = stored.fingerprint;
    $("unlock-form").hidden = false;
  }
}
