// A voucher's whole journey through the portal, as the people who handle it work: a prescriber
// issues it and prints its letter; an animator registers it and records two sessions on a phone;
// the monthly run prices them; a finance officer approves the statement and downloads the month's
// CSV and the European fund's claim; a funder downloads a published dataset; the holder checks
// what is left.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { api, baseUrl, browser, eventually, lotScheme, page, parisTimeAgo, parisToday, printToPdf, readPdf, screenshot, signIn } from "./support.mjs";

let chromium;
const month = parisToday().slice(0, 7);

before(async () => {
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
});

/** Today's sessions of the journey started a little earlier; the sheet follows each. */
const sessionTimes = [parisTimeAgo(10), parisTimeAgo(5)];

test("a voucher from issuance to the funder's dataset, through every role's pages", async () => {
  // The prescriber issues the voucher and prints the letter.
  const prescriber = await page(chromium);
  await signIn(prescriber, "prescriber@lot.example");
  await prescriber.getByRole("link", { name: "Émettre un chèque" }).click();
  await prescriber.getByLabel(/^Prénom/).fill("Germaine");
  await prescriber.getByLabel(/^Nom/).fill("Lacoste");
  await prescriber.getByLabel(/^Année de naissance/).fill("1947");
  await prescriber.getByLabel(/^Code INSEE/).fill("46102");
  await prescriber.getByLabel(/^Public/).selectOption("senior");
  await screenshot(prescriber, "prescriber-new-voucher");
  await prescriber.getByRole("button", { name: "Émettre le chèque" }).click();
  await prescriber.getByText("Chèque émis").first().waitFor();
  const heading = await prescriber.getByRole("heading", { level: 1 }).innerText();
  const reference = heading.replace("Chèque", "").trim();
  assert.match(reference, /^LOT-/);
  await screenshot(prescriber, "prescriber-voucher");

  await prescriber.getByRole("link", { name: "Imprimer le courrier" }).click();
  await prescriber.getByRole("heading", { level: 1, name: "Votre chèque Ticket Net" }).waitFor();
  const letter = await prescriber.locator("main").innerText();
  assert.match(letter, new RegExp(reference));
  assert.match(letter, /Germaine Lacoste/);
  assert.match(letter, /200,00 €/);
  assert.match(letter, /20 heures/);
  assert.match(letter, /EPN de Figeac/);
  assert.match(letter, /balance-page/);
  await screenshot(prescriber, "prescriber-letter");
  // Printed on A4, the letter is one page.
  const printed = readPdf(await printToPdf(prescriber, "prescriber-letter"));
  assert.equal(printed.pages, 1, "the letter prints on one page");
  assert.match(printed.text, new RegExp(reference));

  // The animator, on a phone, registers the voucher after the interview.
  const animator = await page(chromium, { phone: true });
  await signIn(animator, "epn@lot.example");
  await animator.getByRole("link", { name: "Inscrire un chèque dans l’EPN" }).click();
  await animator.getByLabel(/^Référence du chèque/).fill(reference.toLowerCase());
  await animator.getByLabel(/^Nom du titulaire/).fill("Lacoste");
  await animator.getByRole("button", { name: "Rechercher le chèque" }).click();
  await animator.getByText(`Chèque ${reference}`).waitFor();
  await animator.getByLabel(/^Autonomie/).selectOption("beginner");
  await animator.getByLabel(/^Besoins exprimés/).fill("Échanger avec ses petits-enfants, démarches de retraite");
  // The design system draws its own boxes over the inputs: ticking clicks the label, as a finger does.
  const modules = animator.getByRole("checkbox");
  for (let i = 0; i < 10; i += 1) await modules.nth(i).check({ force: true });
  await screenshot(animator, "animator-register-phone");
  await animator.getByRole("button", { name: "Inscrire le chèque" }).click();
  await animator.getByText(`Chèque ${reference} inscrit dans l’EPN`).waitFor();

  // Two sessions today; on each sheet the holder is ticked present with a competence worked.
  for (const [index, time] of sessionTimes.entries()) {
    await animator.goto(`${baseUrl}/portail/lot/epn`);
    await animator.getByLabel(/^Module/).selectOption(String(index + 1));
    await animator.getByLabel(/^Date/).fill(parisToday());
    await animator.getByLabel(/^Heure de début/).fill(time);
    await animator.getByRole("button", { name: "Planifier la séance" }).click();
    await animator.getByRole("heading", { level: 1, name: "Feuille de présence" }).waitFor();
    const card = animator.locator(".personne").filter({ hasText: reference });
    await card.getByLabel(/^Présent/).check({ force: true });
    // The competences are ticked once for the group.
    const group = animator.locator(".groupe");
    await group.getByText("Compétences travaillées par le groupe").click();
    await group.getByLabel(/^2\.1 Interagir/).selectOption("practised");
    if (index === 0) {
      // On the smallest phones too, nothing is wider than the screen, the person's own
      // competences open included.
      await animator.setViewportSize({ width: 360, height: 740 });
      await card.getByText("Compétences de cette personne").click();
      // Wider than the screen, even where the design system clips it instead of scrolling.
      const wider = await animator.evaluate(() =>
        [...document.querySelectorAll("body *")]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
          .map((e) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`),
      );
      assert.deepEqual(wider, [], "nothing on the sheet is wider than a 360-px screen");
      await screenshot(animator, "animator-sheet-phone");
      await animator.setViewportSize({ width: 390, height: 844 });
    }
    await animator.getByRole("button", { name: "Enregistrer la feuille" }).click();
    const left = index === 0 ? "18 heures" : "16 heures";
    await animator.getByText(`${reference} noté présent ; il reste ${left}.`).waitFor();
  }
  await animator.goto(`${baseUrl}/portail/lot/epn`);
  await screenshot(animator, "animator-month-phone");

  // The monthly run (the worker runs it each month; finance can run it again at any time).
  await api("POST", `/v1/reimbursements/${month}/run`, "FINANCE_LOT", {});

  // The finance officer opens the EPN's statement, approves it and downloads the month's CSV.
  const officer = await page(chromium);
  await signIn(officer, "finance@lot.example");
  await officer.getByRole("link", { name: "Relevés de remboursement des EPN" }).click();
  await officer.goto(`${baseUrl}/portail/lot/releves?mois=${month}`);
  const row = officer.getByRole("row").filter({ hasText: "EPN de Figeac" });
  assert.match(await row.innerText(), /Ticket Net/);
  assert.match(await row.innerText(), /à valider/);
  await screenshot(officer, "finance-statements");
  await row.getByRole("link").click();
  await officer.getByRole("heading", { level: 1, name: /^Relevé / }).waitFor();
  const sessionLines = officer.getByRole("row").filter({ hasText: reference }).filter({ hasText: "séance" });
  assert.equal(await sessionLines.count(), 2);
  await screenshot(officer, "finance-statement");
  await officer.getByRole("button", { name: "Valider le relevé" }).click();
  await officer.getByText("Relevé validé").waitFor();
  assert.match(await officer.locator("main").innerText(), /État : validé/);
  await officer.getByRole("link", { name: /^Relevés de / }).click();
  const [download] = await Promise.all([
    officer.waitForEvent("download"),
    officer.getByRole("link", { name: "Télécharger le CSV du mois" }).click(),
  ]);
  assert.match(download.suggestedFilename(), new RegExp(`^lot-remboursements-${month}`));
  const csv = new TextDecoder("windows-1252").decode(await readFile(await download.path()));
  assert.match(csv, new RegExp(reference));
  assert.match(csv, /EPN de Figeac/);
  // The approved statement is in the month's SEPA transfer file (pain.001) for the treasury.
  const [transfer] = await Promise.all([
    officer.waitForEvent("download"),
    officer.getByRole("link", { name: /^Fichier de virement SEPA/ }).click(),
  ]);
  const xml = await readFile(await transfer.path(), "utf8");
  assert.match(xml, /urn:iso:std:iso:20022:tech:xsd:pain\.001/);
  assert.match(xml, /FR7630006000011234567890189/);

  // The demo's scheme is co-financed by the European social fund for half of every voucher
  // issued since the demo was seeded: the month's reconciliation shows what the fund committed,
  // and the fund's claim file holds this voucher's lines as proof of service.
  await officer.goto(`${baseUrl}/portail/lot/`);
  await officer.getByRole("link", { name: /^Financeurs/ }).click();
  await officer.getByRole("heading", { level: 1, name: /^Financeurs — / }).waitFor();
  const fund = officer.getByRole("row").filter({ hasText: "FSE+" }).first();
  // Other tests issue vouchers on the same demo: the fund's figures are only known to be there.
  assert.match(await fund.innerText(), /FSE\+\s+\d[\d\s]*,\d\d\s€/);
  await screenshot(officer, "finance-funders");
  const [claim] = await Promise.all([
    officer.waitForEvent("download"),
    officer.getByRole("link", { name: "CSV de FSE+" }).click(),
  ]);
  assert.match(claim.suggestedFilename(), /^lot-financeur-/);
  const claimCsv = new TextDecoder("windows-1252").decode(await readFile(await claim.path()));
  const linesOf = (text) => text.split("\n").filter((l) => l.includes(reference)).length;
  assert.ok(linesOf(csv) >= 2);
  assert.equal(linesOf(claimCsv), linesOf(csv), "every line of the voucher is in the fund's claim");

  // The month's statistics, computed by the worker on demand, then downloaded by a funder.
  const scheme = await lotScheme();
  const requested = await api(
    "POST",
    "/v1/statistics/exports",
    "TENANT_ADMIN_LOT",
    { scheme_id: scheme.id, period: month },
    202,
  );
  await eventually(
    async () => (await api("GET", `/v1/statistics/exports/${requested.id}`, "TENANT_ADMIN_LOT")).status === "succeeded",
    90,
    "the statistics export",
  );
  const funder = await page(chromium);
  await signIn(funder, "funder@lot.example");
  await funder.getByRole("link", { name: "Statistiques publiées" }).click();
  await funder.getByRole("heading", { level: 1, name: "Statistiques publiées" }).waitFor();
  await funder.getByRole("heading", { level: 2, name: /^Ticket Net — / }).first().waitFor();
  await screenshot(funder, "funder-statistics");
  const [dataset] = await Promise.all([
    funder.waitForEvent("download"),
    funder.getByRole("link", { name: "indicators-published.csv" }).first().click(),
  ]);
  const indicators = await readFile(await dataset.path(), "utf8");
  assert.match(indicators.split("\n")[0], /dimension.*indicateur/);
  await funder.goto(`${baseUrl}/portail/lot/statistiques/tableau`);
  await funder.getByRole("heading", { level: 1, name: "Tableau de bord" }).waitFor();
  assert.ok((await funder.locator("figure svg").count()) >= 1);
  await screenshot(funder, "funder-dashboard");

  // The holder checks what is left.
  const holder = await page(chromium, { phone: true });
  await holder.goto(`${baseUrl}/v1/public/balance-page`);
  await holder.getByLabel("Référence du chèque").fill(reference);
  await holder.getByLabel("Votre nom de famille").fill("Lacoste");
  await holder.getByRole("button", { name: "Voir mon solde" }).click();
  assert.match(await holder.getByRole("status").innerText(), /Heures restantes : 16 heures/);
});
