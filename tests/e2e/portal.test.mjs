// Staff sign in to their département's portal with the demo accounts `seed-demo` makes
// (`<role>@lot.example`, password `demo-passerelle`), and sign out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { baseUrl, browser, checkAccessibility, page, passSecondFactor, screenshot } from "./support.mjs";

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
  // A finance officer's password is followed by the second factor (set up the first time).
  await officer.getByRole("heading", { level: 1, name: "Double authentification" }).waitFor();
  await checkAccessibility(officer, "portal-second-factor");
  await screenshot(officer, "portal-second-factor");
  await passSecondFactor(officer, "finance@lot.example");
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
