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
  // The import runs in the background: its page follows it, then shows the report.
  await prescriber
    .getByText(/2 ligne\(s\) lue\(s\) : 1 chèque\(s\) émis, 0 déjà émis par un envoi précédent, 1 ligne\(s\) refusée\(s\)/)
    .waitFor({ timeout: 15000 });
  const refused = prescriber.getByRole("row").filter({ hasText: "refusé" });
  assert.match(await refused.innerText(), /Saisissez l’année de naissance sur 4 chiffres/);
  await screenshot(prescriber, "prescriber-import-report");

  await prescriber.goto(prescriber.url().replace(/cheques\/imports\/[0-9a-f-]+$/, "cheques"));
  await prescriber.getByRole("heading", { level: 2, name: "Stock de chèques" }).waitFor();
  await screenshot(prescriber, "prescriber-vouchers-stock");
});

test("a tenant admin imports a national file of places and follows its progress", async () => {
  const file = join(tmpdir(), `lieux-${process.pid}.csv`);
  const detail = "Accompagnement aux démarches en ligne et prise en main des outils. ".repeat(10);
  const rows = ["id;nom;commune;code_postal;horaires;presentation_detail;source"];
  for (let i = 0; i < 12000; i += 1) {
    const hours = i % 9 === 0 ? "le mardi matin" : "Mo-Fr 09:00-12:00 || \"\"sur rendez-vous\"\"";
    rows.push(`e2e-${process.pid}-${i};Lieu ${i};Cahors;46000;"${hours}";${detail};e2e`);
  }
  await writeFile(file, rows.join("\n"));

  const admin = await page(chromium);
  await signIn(admin, "tenant-admin@lot.example");
  await admin.getByRole("link", { name: "EPN : import, offre et coordonnées bancaires" }).click();
  await admin.getByLabel(/^Fichier des lieux/).setInputFiles(file);
  await admin.getByRole("button", { name: "Importer" }).click();
  await admin.waitForURL(/\/epns\/imports\/[0-9a-f-]+$/);
  const summary = admin.getByText(/12000 ligne\(s\) lue\(s\) : 12000 lieu\(x\) créé\(s\), 0 mis à jour, 0 ligne\(s\) refusée\(s\), 1334 avec un avertissement/);
  if (!(await summary.isVisible())) {
    // Still running: the page shows a progress bar that moves on its own.
    await admin.getByRole("progressbar").waitFor();
    await screenshot(admin, "admin-import-progress");
  }
  await summary.waitFor({ timeout: 120000 });
  const warned = admin.getByRole("row").filter({ hasText: "le mardi matin" }).first();
  assert.match(await warned.innerText(), /horaires gardés tels quels/);
  await screenshot(admin, "admin-import-report");
  await admin.getByRole("link", { name: "Retour" }).click();
  await admin.getByRole("table", { name: "Derniers imports" }).waitFor();
});

test("a tenant admin's set-up pages and logs", async () => {
  const admin = await page(chromium);
  await signIn(admin, "tenant-admin@lot.example");
  const visits = [
    ["Dispositifs, règles et modules", "Dispositifs", "admin-schemes"],
    ["Structures prescriptrices et dotations", "Structures prescriptrices et dotations", "admin-prescribers"],
    ["EPN : import, offre et coordonnées bancaires", "Espaces publics numériques", "admin-epns"],
    ["Journal des courriels", "Journal des courriels", "admin-emails"],
    ["Identité du territoire : nom affiché, expéditeur et logo", "Identité du territoire", "admin-branding"],
    ["Archive du territoire : toutes ses données, à emporter", "Archive du territoire", "admin-archive"],
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
