// Agents sign in through the territory's OpenID Connect provider, end to end: a real provider
// (`oidc-provider`, started here on 127.0.0.1) set up the strict way, the Lot's tenant
// admin registering it through the API, and agents in Chromium going from the portal's sign-in
// page to the provider and back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { api, baseUrl, browser, checkAccessibility, page, parisToday, screenshot } from "./support.mjs";
import { startIdentityProvider } from "./identity-provider.mjs";

let chromium;
let provider;
const domain = `agents-${randomBytes(3).toString("hex")}.example`;
const agent = { email: `claire.martin@${domain}`, name: "Claire Martin" };
const officer = { email: `paul.tresor@${domain}`, name: "Paul Trésor" };

before(async () => {
  chromium = await browser();
  const clientSecret = randomBytes(24).toString("hex");
  provider = await startIdentityProvider({
    clientId: "passerelle-lot",
    clientSecret,
    redirectUris: [`${baseUrl}/portail/lot/oidc/retour`],
    postLogoutRedirectUris: [`${baseUrl}/portail/lot/oidc/deconnexion`],
  });
  const prescribers = await api("GET", "/v1/prescribers", "TENANT_ADMIN_LOT");
  const set = await api("PUT", "/v1/tenant/identity-provider", "TENANT_ADMIN_LOT", {
    label: "ProConnect",
    issuer: provider.issuer,
    client_id: "passerelle-lot",
    client_secret: clientSecret,
    email_domains: [
      { domain, role: "prescriber", prescriber_id: prescribers.items[0].id },
      { domain, role: "finance" },
    ],
  });
  // What the admin registers with the provider is where the provider sends agents back.
  assert.equal(set.redirect_uri, `${baseUrl}/portail/lot/oidc/retour`);
  assert.equal(set.post_logout_redirect_uri, `${baseUrl}/portail/lot/oidc/deconnexion`);
  await api(
    "POST",
    "/v1/users",
    "TENANT_ADMIN_LOT",
    { email: agent.email, display_name: agent.name, role: "prescriber", prescriber_id: prescribers.items[0].id },
    201,
  );
  await api("POST", "/v1/users", "TENANT_ADMIN_LOT", { email: officer.email, display_name: officer.name, role: "finance" }, 201);
});

after(async () => {
  await api("DELETE", "/v1/tenant/identity-provider", "TENANT_ADMIN_LOT", undefined, 204).catch(() => {});
  await provider?.close();
  await chromium?.close();
});

/** From the portal's sign-in page through the provider, as `email`. */
async function throughProvider(pageInstance, email) {
  await pageInstance.goto(`${baseUrl}/portail/lot/connexion`);
  await pageInstance.getByRole("link", { name: "S’identifier avec ProConnect" }).click();
  await pageInstance.getByRole("heading", { name: "Fournisseur d’identité de test" }).waitFor();
  await pageInstance.getByLabel("Adresse électronique professionnelle").fill(email);
  await pageInstance.getByRole("button", { name: "Continuer" }).click();
  await pageInstance.getByRole("heading", { level: 1 }).first().waitFor();
}

test("an invited agent signs in through the provider, and signs out of both", async () => {
  const browserPage = await page(chromium);
  await browserPage.goto(`${baseUrl}/portail/lot/connexion`);
  await checkAccessibility(browserPage, "sign-in-with-provider");
  await screenshot(browserPage, "sign-in-with-provider");

  // The return from the provider is kept to be replayed later.
  let returnAddress;
  browserPage.on("request", (request) => {
    if (request.url().includes("/oidc/retour")) returnAddress = request.url();
  });
  await throughProvider(browserPage, agent.email);
  await browserPage.getByRole("heading", { level: 1, name: `Bonjour ${agent.name}` }).waitFor();
  assert.match(await browserPage.locator("main").innerText(), /prescripteur/i);
  assert.ok(returnAddress, "the provider sent the browser back");
  const linked = await api("GET", "/v1/audit?action=user.identity_linked", "TENANT_ADMIN_LOT");
  assert.ok(
    linked.items.some((entry) => entry.details.subject === agent.email && entry.details.issuer === provider.issuer),
    "the identity is linked and audited",
  );

  // Signing out ends the provider's session too, which comes back here.
  await browserPage.getByRole("button", { name: "Se déconnecter" }).click();
  // The portal's page moves on to the provider by itself.
  await browserPage.getByRole("heading", { name: "Se déconnecter du fournisseur d’identité ?" }).waitFor();
  await browserPage.getByRole("button", { name: "Oui, me déconnecter" }).click();
  await browserPage.getByText("Vous êtes déconnecté, ici et de ProConnect.").waitFor();
  await screenshot(browserPage, "signed-out-of-provider");

  // The return replayed opens nothing.
  await browserPage.goto(returnAddress);
  await browserPage.getByRole("heading", { level: 1, name: "La connexion n’a pas pu être vérifiée" }).waitFor();
  await browserPage.goto(`${baseUrl}/portail/lot/`);
  await browserPage.getByRole("heading", { level: 1, name: /Se connecter/ }).waitFor();

  // The provider asks again (its session ended); the linked identity signs the agent in again.
  await throughProvider(browserPage, agent.email);
  await browserPage.getByRole("heading", { level: 1, name: `Bonjour ${agent.name}` }).waitFor();
  await browserPage.close();
});

test("an address nobody invited gets a French page, and no account is created", async () => {
  const browserPage = await page(chromium);
  const stranger = `inconnu.${randomBytes(3).toString("hex")}@${domain}`;
  await throughProvider(browserPage, stranger);
  await browserPage.getByRole("heading", { level: 1, name: "Aucun accès ouvert à cette adresse" }).waitFor();
  assert.match(await browserPage.locator("main").innerText(), /Demandez à l’administrateur du territoire/);
  await checkAccessibility(browserPage, "provider-not-invited");
  await screenshot(browserPage, "provider-not-invited");
  const users = await api("GET", "/v1/users?limit=100", "TENANT_ADMIN_LOT");
  assert.ok(!users.items.some((user) => user.email === stranger), "no account for the stranger");
  await browserPage.goto(`${baseUrl}/portail/lot/`);
  await browserPage.getByRole("heading", { level: 1, name: /Se connecter/ }).waitFor();
  await browserPage.close();
});

test("a return whose state is not this browser's is refused", async () => {
  const browserPage = await page(chromium);
  // The provider's genuine return is held back, and sent with another state.
  provider.holdReturns(true);
  let genuine;
  try {
    await throughProvider(browserPage, agent.email);
    genuine = await browserPage.locator("#retour").getAttribute("href");
  } finally {
    provider.holdReturns(false);
  }
  const forged = new URL(genuine);
  assert.ok(forged.searchParams.get("code"), "the provider gave a code");
  forged.searchParams.set("state", "etat-falsifie");
  await browserPage.goto(forged.toString());
  await browserPage.getByRole("heading", { level: 1, name: "La connexion n’a pas pu être vérifiée" }).waitFor();
  await checkAccessibility(browserPage, "provider-wrong-state");
  await screenshot(browserPage, "provider-wrong-state");
  await browserPage.goto(`${baseUrl}/portail/lot/`);
  await browserPage.getByRole("heading", { level: 1, name: /Se connecter/ }).waitFor();
  await browserPage.close();
});

test("an ID token that arrives expired is refused", async () => {
  const browserPage = await page(chromium);
  provider.expireIdTokens(true);
  try {
    await throughProvider(browserPage, agent.email);
    await browserPage
      .getByRole("heading", { level: 1, name: "La connexion par ProConnect n’a pas abouti" })
      .waitFor();
  } finally {
    provider.expireIdTokens(false);
  }
  await browserPage.goto(`${baseUrl}/portail/lot/`);
  await browserPage.getByRole("heading", { level: 1, name: /Se connecter/ }).waitFor();
  await browserPage.close();
});

test("before money moves, a finance officer signed in through the provider a while ago signs in there again", async () => {
  const browserPage = await page(chromium);
  provider.authenticateSecondsAgo(20 * 60);
  try {
    await throughProvider(browserPage, officer.email);
  } finally {
    provider.authenticateSecondsAgo(0);
  }
  // No code is asked at sign-in: the provider authenticated the officer.
  await browserPage.getByRole("heading", { level: 1, name: `Bonjour ${officer.name}` }).waitFor();

  const month = parisToday().slice(0, 7);
  const transferFile = `${baseUrl}/portail/lot/releves/${month}/sepa`;
  const before = await browserPage.request.get(transferFile, { maxRedirects: 0 });
  assert.equal(before.status(), 303);
  assert.match(before.headers().location, /\/oidc\/connexion\?reauthentifier=1&retour=/);

  await browserPage.goto(`${baseUrl}/portail/lot/releves?mois=${month}`);
  await browserPage.goto(transferFile).catch(() => {});
  await browserPage.getByRole("heading", { name: "Fournisseur d’identité de test" }).waitFor();
  await browserPage.getByLabel("Adresse électronique professionnelle").fill(officer.email);
  await browserPage.getByRole("button", { name: "Continuer" }).click();
  await browserPage.waitForURL(new RegExp(`/portail/lot/releves\\?mois=${month}$`));

  // Authenticated again a moment ago: the file is given without asking again.
  const after = await browserPage.request.get(transferFile, { maxRedirects: 0 });
  assert.notEqual(after.status(), 303, "not sent to the provider again");
  await browserPage.close();
});
