// Staff sign in to their département's portal with the demo accounts `seed-demo` makes
// (`<role>@lot.example`, password `demo-passerelle`), and sign out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { api, attendOneSession, baseUrl, browser, issueVoucher, page, parisToday, screenshot } from "./support.mjs";

let chromium;

before(async () => {
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
});

test("a finance officer signs in, sees the home page and signs out", async () => {
  const officer = await page(chromium);
  await officer.goto(`${baseUrl}/portail/lot/`);
  // Not signed in yet: the portal sends to its sign-in page.
  assert.equal(new URL(officer.url()).pathname, "/portail/lot/connexion");
  await screenshot(officer, "portal-sign-in");

  await officer.getByLabel("Adresse électronique").fill("finance@lot.example");
  await officer.getByLabel("Mot de passe").fill("demo-passerelle");
  await officer.getByRole("button", { name: "Se connecter" }).click();
  await officer.getByRole("heading", { level: 1 }).filter({ hasText: "Bonjour" }).waitFor();
  assert.match(await officer.locator("main").innerText(), /gestionnaire financier/);
  await screenshot(officer, "portal-home");

  await officer.getByRole("button", { name: "Se déconnecter" }).click();
  await officer.getByText("Vous êtes déconnecté.").waitFor();
  await officer.goto(`${baseUrl}/portail/lot/`);
  assert.equal(new URL(officer.url()).pathname, "/portail/lot/connexion");
});

test("a wrong password is told on the form, on a phone", async () => {
  const animator = await page(chromium, { phone: true });
  await animator.goto(`${baseUrl}/portail/lot/connexion`);
  await animator.getByLabel("Adresse électronique").fill("epn@lot.example");
  await animator.getByLabel("Mot de passe").fill("pas-le-bon-mot-de-passe");
  await animator.getByRole("button", { name: "Se connecter" }).click();
  const alert = animator.getByRole("alert");
  await alert.waitFor();
  assert.equal(await alert.innerText(), "Adresse électronique ou mot de passe incorrect.");
  assert.equal(await animator.getByRole("textbox", { name: /^Adresse électronique/ }).inputValue(), "epn@lot.example");
  await screenshot(animator, "portal-sign-in-error-phone");
});

test("after the monthly run, a finance officer reads the month's statements and downloads the CSV", async () => {
  const reference = await issueVoucher("Marcel", "Delpech");
  await attendOneSession(reference, "Delpech");
  const month = parisToday().slice(0, 7);
  await api("POST", `/v1/reimbursements/${month}/run`, "FINANCE_LOT", {});

  const officer = await page(chromium);
  await officer.goto(`${baseUrl}/portail/lot/connexion`);
  await officer.getByLabel("Adresse électronique").fill("finance@lot.example");
  await officer.getByLabel("Mot de passe").fill("demo-passerelle");
  await officer.getByRole("button", { name: "Se connecter" }).click();
  await officer.getByRole("link", { name: "Relevés de remboursement des EPN" }).click();
  await officer.getByRole("heading", { level: 1 }).filter({ hasText: "Relevés de" }).waitFor();
  await officer.goto(`${baseUrl}/portail/lot/releves?mois=${month}`);
  const row = officer.getByRole("row").filter({ hasText: "EPN de Figeac" });
  const cells = await row.innerText();
  assert.match(cells, /Ticket Net/);
  assert.match(cells, /à valider/);
  await screenshot(officer, "finance-statements");

  const [download] = await Promise.all([
    officer.waitForEvent("download"),
    officer.getByRole("link", { name: "Télécharger le CSV du mois" }).click(),
  ]);
  assert.match(download.suggestedFilename(), new RegExp(`^lot-remboursements-${month}`));
  const csv = new TextDecoder("windows-1252").decode(await readFile(await download.path()));
  assert.match(csv, new RegExp(reference));
  assert.match(csv, /EPN de Figeac/);
});
