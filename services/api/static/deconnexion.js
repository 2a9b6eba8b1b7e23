// Sign-out wipes what the phone app keeps (the server answers it with Clear-Site-Data). Sheets
// saved on the phone and not sent yet would go with it: ask before.
const form = document.getElementById("deconnexion");
const tenant = form?.dataset.tenant;

function waitingSheets() {
  return new Promise((resolve) => {
    const request = indexedDB.open(`passerelle-telephone-${tenant}`, 1);
    request.onupgradeneeded = () => {
      // No app on this phone: nothing waits.
      request.transaction.abort();
      resolve(0);
    };
    request.onerror = () => resolve(0);
    request.onsuccess = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("envois")) {
        db.close();
        resolve(0);
        return;
      }
      const all = db.transaction("envois").objectStore("envois").getAll();
      all.onsuccess = () => {
        db.close();
        resolve(all.result.filter((s) => s.state === "waiting").length);
      };
      all.onerror = () => {
        db.close();
        resolve(0);
      };
    };
  });
}

let confirmed = false;
form?.addEventListener("submit", async (event) => {
  if (confirmed) return;
  event.preventDefault();
  const waiting = await waitingSheets();
  if (
    waiting === 0 ||
    window.confirm(
      `${waiting} feuille(s) de présence enregistrée(s) sur ce téléphone ne sont pas encore envoyées : la déconnexion les effacera. Se déconnecter quand même ?`,
    )
  ) {
    confirmed = true;
    form.requestSubmit();
  }
});
