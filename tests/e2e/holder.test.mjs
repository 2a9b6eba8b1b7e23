// A holder, with no account, checks the balance of the voucher a prescriber just issued, on a
// phone, as the welcome letter and emails tell them to; and reaches their own space by scanning
// the letter's QR code.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  api,
  attendOneSession,
  baseUrl,
  browser,
  checkAccessibility,
  issueVoucher,
  lotScheme,
  page,
  printToPdf,
  readPdf,
  readQrCodes,
  screenshot,
  signIn,
} from "./support.mjs";

let chromium;
let reference;

before(async () => {
  reference = await issueVoucher("Josette", "Vayssière");
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
});

test("a holder checks the balance on a phone", async () => {
  const holder = await page(chromium, { phone: true });
  await holder.goto(`${baseUrl}/v1/public/balance-page`);
  assert.equal(await holder.title(), "Consulter le solde de mon chèque — Passerelle");
  // The design system's stylesheet is loaded: the button has its blue.
  const background = await holder
    .getByRole("button", { name: "Voir mon solde" })
    .evaluate((button) => getComputedStyle(button).backgroundColor);
  assert.equal(background, "rgb(0, 0, 145)");
  await screenshot(holder, "holder-balance-form");

  await holder.getByLabel("Référence du chèque").fill(reference.toLowerCase());
  await holder.getByLabel("Votre nom de famille").fill("vayssiere");
  await holder.getByRole("button", { name: "Voir mon solde" }).click();
  const status = holder.getByRole("status");
  await status.waitFor();
  assert.match(await status.innerText(), /Heures restantes : 20 heures/);
  assert.match(await status.innerText(), new RegExp(`Référence ${reference}`));
  await screenshot(holder, "holder-balance-result");
});

test("a wrong name is told next to the field, with nothing of the voucher shown", async () => {
  const holder = await page(chromium, { phone: true });
  await holder.goto(`${baseUrl}/v1/public/balance-page`);
  await holder.getByLabel("Référence du chèque").fill(reference);
  await holder.getByLabel("Votre nom de famille").fill("Dupont");
  await holder.getByRole("button", { name: "Voir mon solde" }).click();
  const alert = holder.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.innerText(), /Aucun chèque ne correspond/);
  const field = holder.getByLabel("Référence du chèque");
  assert.equal(await field.getAttribute("aria-describedby"), "balance-error");
  assert.equal(await holder.getByRole("status").count(), 0);
  await screenshot(holder, "holder-balance-error");
});

test("a holder reads the e-portfolio from the private link, on a phone", async () => {
  await attendOneSession(reference, "Vayssière");
  const link = await api("POST", `/v1/vouchers/${reference}/portfolio-link`, "EPN_LOT", {}, 201);

  const holder = await page(chromium, { phone: true });
  await holder.goto(baseUrl + link.url);
  assert.equal(await holder.getByRole("heading", { level: 1 }).innerText(), "Mon espace personnel");
  const text = await holder.locator("main").innerText();
  assert.match(text, /Josette, voici/);
  assert.match(text, /Temps suivi : 2 heures/);
  assert.match(text, /Temps restant : 18 heures/);
  assert.match(text, /Module 1\s: Un ordinateur et internet à la maison/);
  assert.match(text, /2\.1 Interagir/);
  assert.match(text, /pratiquée/i);
  await screenshot(holder, "holder-portfolio");
});

test("a holder scans the letter's QR code, reads their space on a phone, keeps a copy and revokes the link", async () => {
  const own = await issueVoucher("Léonie", "Carrère");
  await attendOneSession(own, "Carrère");

  // Six places take part across the Lot, beside the demo's Figeac; the holder lives in Cahors.
  const scheme = await lotScheme();
  const places = [
    ["Espace numérique de Gourdon", "Gourdon", "46300", "46127"],
    ["Tiers-lieu de Pradines", "Pradines", "46090", "46224"],
    ["EPN de Souillac", "Souillac", "46200", "46309"],
    ["Médiathèque d’Albas", "Albas", "46140", "46001"],
    ["Maison France services de Cahors", "Cahors", "46000", "46042"],
  ];
  for (const [nom, commune, code_postal, code_insee] of places) {
    const epn = await api("POST", "/v1/epns", "TENANT_ADMIN_LOT", {
      nom, commune, code_postal, code_insee, adresse: "1 place de la Mairie", telephone: "05 65 00 00 00",
    }, 201);
    await api("POST", `/v1/epns/${epn.id}/offers`, "TENANT_ADMIN_LOT", { scheme_id: scheme.id, modules: [1, 2] });
  }

  // The prescriber prints the letter; the holder's phone reads its QR code.
  const prescriber = await page(chromium);
  await signIn(prescriber, "prescriber@lot.example");
  await prescriber.goto(`${baseUrl}/portail/lot/cheques/${own}/courrier`);
  const letterPdf = await printToPdf(prescriber, "holder-letter");
  const letter = readPdf(letterPdf);
  assert.equal(letter.pages, 1, "the letter with its QR code still prints on one page");
  // The three places nearest Cahors: the town, its intercommunality, its arrondissement; the
  // three others are on the scheme's public page.
  const listed = ["Maison France services de Cahors", "Tiers-lieu de Pradines", "Médiathèque d’Albas"];
  const positions = listed.map((name) => letter.text.indexOf(name));
  assert.ok(positions.every((p) => p >= 0), `the nearest places are listed:\n${letter.text}`);
  assert.deepEqual([...positions].sort((a, b) => a - b), positions, "nearest first");
  for (const further of ["Gourdon", "Souillac", "EPN de Figeac"]) {
    assert.ok(!letter.text.includes(further), `${further} is not on the letter`);
  }
  assert.match(letter.text.replace(/\s+/g, " "), /3 autres lieux participent : la liste complète est sur \S+\/territoires\/lot\//);
  const code = /[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}/.exec(letter.text)?.[0];
  assert.ok(code, `the letter prints the code:\n${letter.text}`);
  const scanned = readQrCodes(letterPdf);
  assert.deepEqual(scanned, [`${baseUrl}/p/lot/${code}`], "the QR code opens the holder's space");

  const holder = await page(chromium, { phone: true });
  await holder.goto(scanned[0]);
  assert.equal(await holder.getByRole("heading", { level: 1 }).innerText(), "Mon espace personnel");
  const text = await holder.locator("main").innerText();
  assert.match(text, /Léonie, voici/);
  assert.match(text, new RegExp(own));
  assert.match(text, /Temps restant : 18 heures sur 20 heures/);
  assert.match(text, /2\.1 Interagir/);
  // Readable on a phone: nothing wider than the screen.
  const overflow = await holder.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
  await checkAccessibility(holder, "holder-space");
  await screenshot(holder, "holder-space-phone");

  // A JSON copy to keep (data portability).
  const [download] = await Promise.all([
    holder.waitForEvent("download"),
    holder.getByRole("link", { name: "Télécharger mes données (JSON)" }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^portfolio-lot-\d{4}-\d{2}-\d{2}\.json$/);
  const data = JSON.parse(readFileSync(await download.path(), "utf8"));
  assert.equal(data.first_name, "Léonie");
  assert.equal(data.vouchers[0].reference, own);
  assert.equal(data.competences[0].code, "2.1");

  // And a PDF, printed by the browser from the print layout.
  await holder.getByRole("link", { name: "Imprimer ou enregistrer en PDF" }).click();
  await holder.getByRole("heading", { level: 1, name: "Portfolio numérique de Léonie" }).waitFor();
  const copy = readPdf(await printToPdf(holder, "holder-portfolio-copy"));
  assert.match(copy.text, /Portfolio numérique de Léonie/);
  assert.match(copy.text, /2\.1 Interagir/);
  // The table may wrap the reference inside its column.
  assert.match(copy.text.replace(/\s/g, ""), new RegExp(own));

  // The holder revokes the link: the letter's address opens nothing any more.
  await holder.goto(scanned[0]);
  await holder.getByRole("button", { name: "Désactiver mon lien" }).click();
  await holder.getByRole("heading", { level: 1, name: "Votre lien est désactivé" }).waitFor();
  await screenshot(holder, "holder-link-revoked");
  const gone = await holder.goto(scanned[0]);
  assert.equal(gone.status(), 404);
  await holder.getByRole("heading", { level: 1, name: "Ce lien ne fonctionne pas" }).waitFor();
});
