// Pass Numérique's collective projects in Auvergne-Rhône-Alpes, each step by the person who takes
// it: the association proposes a group (too small first, refused next to the list), the Région
// approves it, the EPN's animator records a session for the whole group and orients a member, and
// that member's portfolio shows the competences and the orientation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { api, baseUrl, browser, page, parisTimeAgo, parisToday, passSecondFactor, printToPdf, readPdf, screenshot } from "./support.mjs";

const portal = `${baseUrl}/portail/auvergne-rhone-alpes`;
const title = "Atelier tablette du club de l’amitié";
let chromium;
let projectUrl;

before(async () => {
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
});

async function signIn(role, options = {}) {
  const signedIn = await page(chromium, options);
  await signedIn.goto(`${portal}/connexion`);
  await signedIn.getByLabel("Adresse électronique").fill(`${role}@auvergne-rhone-alpes.example`);
  await signedIn.getByLabel("Mot de passe").fill("demo-passerelle");
  await signedIn.getByRole("button", { name: "Se connecter" }).click();
  await passSecondFactor(signedIn, `${role}@auvergne-rhone-alpes.example`);
  await signedIn.getByRole("heading", { level: 1 }).filter({ hasText: "Bonjour" }).waitFor();
  return signedIn;
}

const people = [
  ["Paulette", "Grangeon", "1947"],
  ["Robert", "Faure", "1942"],
  ["Odile", "Sauzet", "1950"],
  ["Jean", "Chalaye", "1945"],
  ["Simone", "Reynaud", "1949"],
  ["Marcel", "Teyssier", "1940"],
  ["Ginette", "Badel", "1952"],
  ["Lucien", "Brunel", "1944"],
];

async function fillPerson(form, index) {
  const [first, last, year] = people[index];
  const row = form.locator(`#m${index}`);
  await row.getByLabel("Prénom").fill(first);
  await row.getByLabel("Nom", { exact: true }).fill(last);
  await row.getByLabel("Année de naissance").fill(year);
  await row.getByLabel("Code INSEE de la commune").fill("07010");
  await row.getByLabel("Public").selectOption({ value: "senior" });
}

test("an association proposes an 8-person project after a 4-person one is refused next to the list", async () => {
  const association = await signIn("prescriber");
  await association.getByRole("link", { name: "Proposer un projet collectif" }).click();
  await association.getByRole("heading", { level: 1, name: "Proposer un projet collectif" }).waitFor();
  const form = association.locator("main form");
  await association.getByLabel("Titre du projet").fill(title);
  await association.getByLabel("Objectif du groupe").fill("Prendre en main la tablette du club : photos, appels vidéo, agenda partagé.");
  await association.getByLabel("EPN qui anime le projet").selectOption({ label: "EPN d'Annonay" });
  await association.getByLabel("Nombre de séances prévues").fill("4");
  await association.getByLabel("Heures du pass de chaque personne").fill("8");
  for (let i = 0; i < 4; i += 1) await fillPerson(form, i);
  await association.getByRole("button", { name: "Proposer le projet" }).click();

  const error = association.locator("#members");
  await error.waitFor();
  assert.equal(await error.innerText(), "Un projet réunit de 5 à 10 personnes : 4 indiquées.");
  assert.equal(await association.locator("#m3").getByLabel("Nom", { exact: true }).inputValue(), "Chalaye", "what was typed is kept");
  await screenshot(association, "project-too-small");

  for (let i = 4; i < 8; i += 1) await fillPerson(form, i);
  await association.getByRole("button", { name: "Proposer le projet" }).click();
  await association.getByRole("heading", { level: 1, name: title }).waitFor();
  assert.match(await association.getByRole("status").innerText(), /Projet proposé/);
  const text = await association.locator("main").innerText();
  assert.match(text, /en attente de décision/);
  assert.match(text, /Lucien Brunel/);
  projectUrl = association.url().split("?")[0];
  await screenshot(association, "project-proposed");
});

test("the Région finds the project among those waiting and approves it", async () => {
  const region = await signIn("tenant-admin");
  await region.getByRole("link", { name: "Projets collectifs" }).click();
  await region.getByLabel("État").selectOption({ label: "en attente de décision" });
  await region.getByRole("button", { name: "Filtrer" }).click();
  await region.getByRole("link", { name: title }).waitFor();
  const waiting = await region.locator("main table").innerText();
  assert.doesNotMatch(waiting, /Carnet de voyage numérique/, "the approved demo project is filtered out");
  await screenshot(region, "projects-waiting");

  await region.getByRole("link", { name: title }).click();
  await region.getByRole("button", { name: "Approuver le projet" }).click();
  assert.match(await region.getByRole("status").innerText(), /Projet approuvé/);
  assert.equal(await region.locator("main tbody tr").count(), 8);
  assert.doesNotMatch(await region.locator("main tbody").innerText(), /émis à l’approbation/);
  await screenshot(region, "project-approved");
});

test("the animator records a session for the whole group on a phone and orients a member", async () => {
  const animator = await signIn("epn", { phone: true });
  // A session of the project, planned as it starts.
  await animator.goto(`${portal}/epn`);
  await animator.getByLabel("Date").fill(parisToday());
  // Read once: the sheet below looks for this very time, even if the minute turns meanwhile.
  const startedAt = parisTimeAgo(5);
  await animator.getByLabel("Heure de début").fill(startedAt);
  await animator.getByLabel("Nombre de places").fill("10");
  await animator.getByRole("button", { name: "Planifier la séance" }).click();
  await animator.getByRole("heading", { level: 1, name: "Feuille de présence" }).waitFor();

  await animator.goto(projectUrl);
  await animator.getByRole("heading", { name: "Feuille d’une séance du projet" }).waitFor();
  const [hour, minute] = startedAt.split(":");
  const session = animator.getByLabel(/^Séance/);
  const labels = await session.locator("option").allInnerTexts();
  const planned = labels.find((label) => label.includes(`${hour} h ${minute}`));
  assert.ok(planned, `the session just planned is offered: ${labels.join(" | ")}`);
  await session.selectOption({ label: planned });
  await animator.locator('label[for^="absent-"]', { hasText: "Marcel Teyssier" }).click();
  await animator.getByText("Compétences travaillées par le groupe").click();
  await animator.getByLabel(/^3\.1 /).selectOption({ label: "pratiquée" });
  await screenshot(animator, "project-sheet");
  await animator.getByRole("button", { name: "Enregistrer la feuille du groupe" }).click();
  const outcome = animator.locator("#resultat");
  await outcome.waitFor();
  const report = await outcome.innerText();
  assert.equal((report.match(/noté présent/g) ?? []).length, 7, report);
  assert.equal((report.match(/noté absent/g) ?? []).length, 1, report);
  await screenshot(animator, "project-sheet-recorded");

  await animator.getByRole("link", { name: /Orienter Paulette Grangeon/ }).click();
  await animator.getByRole("heading", { level: 1, name: "Orientation en fin de parcours" }).waitFor();
  await animator.getByText("CléA numérique", { exact: true }).click();
  await animator.getByLabel(/^Note pour la personne/).fill("Test CléA numérique au GRETA d’Annonay, le 14 avril.");
  await animator.getByRole("button", { name: "Enregistrer l’orientation" }).click();
  assert.match(await animator.getByRole("status").innerText(), /Orientation enregistrée/);
  await screenshot(animator, "orientation-recorded");
});

test("a member's portfolio shows the competences worked and the orientation", async () => {
  const projectId = projectUrl.split("/").pop();
  const project = await api("GET", `/v1/projects/${projectId}`, "TENANT_ADMIN_ARA");
  const links = [];
  for (const member of project.members) {
    const link = await api("POST", `/v1/vouchers/${member.reference}/portfolio-link`, "EPN_ARA", {}, 201);
    links.push(link.url);
  }
  const holder = await page(chromium, { phone: true });
  let found = false;
  for (const url of links) {
    await holder.goto(baseUrl + url);
    if ((await holder.locator("main").innerText()).includes("Paulette, voici")) {
      found = true;
      break;
    }
  }
  assert.ok(found, "Paulette's portfolio");
  const text = await holder.locator("main").innerText();
  assert.match(text, /3\.1 Développer des documents textuels/);
  assert.match(text, /pratiquée/i);
  assert.match(text, /vous a orienté vers/);
  assert.match(text, /CléA numérique/);
  assert.match(text, /GRETA d’Annonay/);
  await screenshot(holder, "portfolio-orientation");
});

test("the EPN reads what the month's sessions are worth in « Mes remboursements »", async () => {
  const month = parisToday().slice(0, 7);
  await api("POST", `/v1/reimbursements/${month}/run`, "FINANCE_ARA", {});
  const animator = await signIn("epn");
  await animator.getByRole("link", { name: "Mes remboursements" }).click();
  await animator.getByRole("heading", { level: 1, name: /^Mes remboursements \d{4}$/ }).waitFor();
  const table = await animator.locator("main table").innerText();
  assert.match(table, /Pass Numérique/);
  assert.match(table, /à valider/);
  await screenshot(animator, "epn-statements");
  await animator.locator("main table a").first().click();
  await animator.getByRole("heading", { level: 1, name: /^Relevé / }).waitFor();
  assert.equal(await animator.getByRole("button", { name: "Valider le relevé" }).count(), 0);
  await screenshot(animator, "epn-statement");
  // The copy it files: the statement on its first A4 page (EPN, month, amount, totals by
  // module), then the annex of its lines from the next page, each line once.
  const references = await animator.locator("main table tbody tr td:nth-child(5)").allInnerTexts();
  await animator.getByRole("link", { name: "Imprimer ou enregistrer en PDF" }).click();
  await animator.getByRole("heading", { level: 1, name: /^Relevé de remboursement / }).waitFor();
  await screenshot(animator, "epn-statement-print");
  const path = await printToPdf(animator, "epn-statement");
  const first = readPdf(path, { last: 1 }).text;
  assert.match(first, /Relevé de remboursement/);
  assert.match(first, /Pass Numérique/);
  assert.match(first, /Par module/);
  assert.match(first, /\d+,\d\d € pour \d+ ligne\(s\)/);
  assert.doesNotMatch(first, /Annexe/);
  const { text, pages } = readPdf(path);
  assert.ok(pages >= 2, `the annex starts on its own page: ${pages}`);
  // Every voucher of the statement is in the annex (a cell the PDF wraps is joined back).
  const joined = text.replace(/\s+/g, "");
  for (const reference of new Set(references)) {
    assert.ok(joined.includes(reference), reference);
  }
});

test("the EPN submits a new IBAN and a finance officer, another person, confirms it", async () => {
  const animator = await signIn("epn");
  await animator.goto(`${portal}/remboursements`);
  await animator.getByRole("link", { name: "coordonnées bancaires" }).click();
  await animator.getByRole("heading", { level: 1, name: "Coordonnées bancaires" }).waitFor();
  // A wrong checksum is told next to the field.
  await animator.getByLabel(/^IBAN/).fill("FR49 1027 8060 6100 0102 0480 102");
  await animator.getByLabel(/^Titulaire du compte/).fill("Commune d’Annonay");
  await animator.getByRole("button", { name: "Envoyer pour confirmation" }).click();
  await animator.getByText("Saisissez un IBAN valide").first().waitFor();
  await animator.getByLabel(/^IBAN/).fill("FR49 1027 8060 6100 0102 0480 101");
  await animator.getByRole("button", { name: "Envoyer pour confirmation" }).click();
  await animator.getByRole("status").filter({ hasText: "Nouvelles coordonnées enregistrées" }).waitFor();
  assert.match(await animator.locator("main").innerText(), /FR49…0101[^]*en attente de confirmation/);
  await screenshot(animator, "epn-bank-submitted");

  const finance = await signIn("finance");
  await finance.goto(`${portal}/releves`);
  const card = finance.locator(".fr-card").filter({ hasText: "EPN d'Annonay" });
  await card.waitFor();
  assert.match(await card.innerText(), /FR49 1027 8060 6100 0102 0480 101/);
  await screenshot(finance, "finance-bank-change");
  await card.getByRole("button", { name: /^Confirmer l’IBAN/ }).click();
  await finance.getByRole("status").filter({ hasText: "Coordonnées bancaires confirmées" }).waitFor();

  await animator.reload();
  const page = await animator.locator("main").innerText();
  assert.match(page, /Compte actuel des virements : FR49…0101/);
  assert.match(page, /confirmé/);
});
