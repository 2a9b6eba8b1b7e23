// The other main pages, visited the way their users reach them, each checked for accessibility
// and kept as a screenshot: a prescriber's file import and stock, a tenant admin's set-up pages and
// logs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { browser, page, screenshot, signIn } from "./support.mjs";

let chromium;

before(async () => {
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
});

test("a prescriber issues vouchers from a spreadsheet's CSV and reads the row report", async () => {
  const file = join(tmpdir(), `liste-${process.pid}.csv`);
  // As a French spreadsheet saves it: semicolons, Windows-1252 accents, CRLF.
  const rows = [
    "Prénom;Nom;Année de naissance;Code INSEE;Catégorie",
    "Odette;Cazals;1946;46102;retraité",
    "Rémi;Lafon;19;46102;senior",
  ].join("\r\n");
  await writeFile(file, Buffer.from(rows, "latin1"));

  const prescriber = await page(chromium);
  await signIn(prescriber, "prescriber@lot.example");
  await prescriber.getByRole("link", { name: "Émettre des chèques à partir d’un fichier" }).click();
  await prescriber.getByLabel(/^Fichier CSV/).setInputFiles(file);
  await prescriber.getByRole("button", { name: "Envoyer le fichier" }).click();
  const summary = prescriber.getByRole("status");
  await summary.waitFor();
  assert.match(await summary.innerText(), /1 chèque\(s\) émis, 0 déjà émis par un envoi précédent, 1 ligne\(s\) refusée\(s\)/);
  const refused = prescriber.getByRole("row").filter({ hasText: "refusé" });
  assert.match(await refused.innerText(), /Saisissez l’année de naissance sur 4 chiffres/);
  await screenshot(prescriber, "prescriber-import-report");

  await prescriber.goto(prescriber.url().replace(/cheques\/import$/, "cheques"));
  await prescriber.getByRole("heading", { level: 2, name: "Stock de chèques" }).waitFor();
  await screenshot(prescriber, "prescriber-vouchers-stock");
});

test("a tenant admin's set-up pages and logs", async () => {
  const admin = await page(chromium);
  await signIn(admin, "tenant-admin@lot.example");
  const visits = [
    ["Dispositifs, règles et modules", "Dispositifs", "admin-schemes"],
    ["Structures prescriptrices et dotations", "Structures prescriptrices et dotations", "admin-prescribers"],
    ["EPN : import, offre et coordonnées bancaires", "Espaces publics numériques", "admin-epns"],
    ["Journal des courriels", "Journal des courriels", "admin-emails"],
    ["Journal des actions", "Journal des actions", "admin-audit"],
  ];
  for (const [link, heading, name] of visits) {
    await admin.getByRole("link", { name: "Accueil — Démo administration (Département du Lot)" }).click();
    await admin.getByRole("link", { name: link }).click();
    await admin.getByRole("heading", { level: 1, name: heading }).waitFor();
    await screenshot(admin, name);
  }
  // A scheme's rules and modules, and an EPN's offer and bank details.
  await admin.goto(admin.url().replace(/journal$/, "dispositifs"));
  await admin.getByRole("link", { name: "Ticket Net" }).click();
  await admin.getByRole("heading", { level: 2, name: "Changer les règles" }).waitFor();
  await screenshot(admin, "admin-scheme");
  await admin.goto(admin.url().replace(/dispositifs\/.*$/, "epns"));
  await admin.getByRole("link", { name: "EPN de Figeac" }).click();
  await admin.getByRole("heading", { level: 2, name: "Coordonnées bancaires" }).waitFor();
  assert.match(await admin.locator("main").innerText(), /FR76…0189/);
  await screenshot(admin, "admin-epn");
});
