// The identity kept in this browser: the seed wrapped under the passphrase,
// in IndexedDB.

function db() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("sesphr", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function store(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const tx = d.transaction("keys", mode);
    const req = fn(tx.objectStore("keys"));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
  });
}

export const loadKey = () => store("readonly", (s) => s.get("identity"));
export const saveKey = (k) => store("readwrite", (s) => s.put(k, "identity"));
export const forgetKey = () => store("readwrite", (s) => s.delete("identity"));
