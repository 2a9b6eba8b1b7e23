// A holder, with no account, checks the balance of the voucher a prescriber just issued, on a
// phone, as the welcome letter and emails tell them to.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { api, attendOneSession, baseUrl, browser, issueVoucher, page, screenshot } from "./support.mjs";

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
  assert.equal(
    await holder.getByRole("heading", { level: 1 }).innerText(),
    "Portfolio numérique de Josette",
  );
  const text = await holder.locator("main").innerText();
  assert.match(text, /Temps suivi : 2\sh/);
  assert.match(text, /Temps restant : 18\sh/);
  assert.match(text, /Module 1\s: Un ordinateur et internet à la maison/);
  assert.match(text, /2\.1 Interagir/);
  assert.match(text, /pratiquée/i);
  await screenshot(holder, "holder-portfolio");
});
