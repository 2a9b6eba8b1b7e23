// A tenant admin invites a new animator; the worker writes the invitation email (as an .eml file,
// the demo instance having no mail server); the animator opens its link on a phone, chooses a
// password and signs in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { api, baseUrl, browser, eventually, page, screenshot, signIn } from "./support.mjs";

let chromium;

before(async () => {
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
});

/** The text of the email the worker wrote to `address`, once it is there. */
async function emailTo(address) {
  const folder = process.env.E2E_MAIL_DIR;
  return eventually(
    async () => {
      const names = await readdir(folder).catch(() => []);
      for (const name of names.filter((n) => n.endsWith(".eml"))) {
        const raw = await readFile(join(folder, name), "utf8");
        if (raw.includes(address)) {
          // Quoted-printable: soft line breaks joined, escaped bytes decoded.
          const joined = raw.replace(/=\r?\n/g, "");
          return Buffer.from(
            joined.replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16))),
            "latin1",
          ).toString("utf8");
        }
      }
      return null;
    },
    60,
    `the email to ${address}`,
  );
}

test("an invited animator chooses a password from the email link and signs in on a phone", async () => {
  const admin = await page(chromium);
  await signIn(admin, "tenant-admin@lot.example");
  await admin.getByRole("link", { name: "Utilisateurs du portail et invitations" }).click();
  await admin.getByLabel(/^Prénom et nom/).fill("Lucie Bach");
  await admin.getByLabel(/^Adresse électronique/).fill("lucie.bach@lot.example");
  await admin.getByLabel(/^Rôle/).selectOption("epn");
  await admin.getByLabel(/^EPN/).selectOption({ label: "EPN de Figeac" });
  await admin.getByRole("button", { name: "Créer le compte et envoyer l’invitation" }).click();
  await admin.getByText("Invitation envoyée").waitFor();
  const row = admin.getByRole("row").filter({ hasText: "lucie.bach@lot.example" });
  assert.match(await row.innerText(), /invité, mot de passe à choisir/);
  await screenshot(admin, "admin-users");

  const email = await emailTo("lucie.bach@lot.example");
  assert.match(email, /Bonjour Lucie Bach/);
  // The worker writes the link in the transaction that records the email as sent, just after the
  // file: wait for that record, as a person opening their mail always does.
  await eventually(
    async () => {
      const sent = await api("GET", "/v1/emails?kind=invitation&status=sent", "TENANT_ADMIN_LOT");
      return sent.items.some((m) => m.recipient === "lucie.bach@lot.example");
    },
    30,
    "the invitation recorded as sent",
  );
  const link = email.match(/https?:\/\/\S+\/portail\/lot\/mot-de-passe\/[A-Za-z0-9_-]+/)[0];

  const animator = await page(chromium, { phone: true });
  await animator.goto(link);
  await animator.getByRole("heading", { level: 1, name: "Bienvenue, Lucie Bach" }).waitFor();
  await animator.getByLabel(/^Mot de passe/).fill("court");
  await animator.getByLabel(/^Le même mot de passe/).fill("court");
  await animator.getByRole("button", { name: "Enregistrer mon mot de passe" }).click();
  await animator.getByText("Choisissez un mot de passe d’au moins 12 caractères").first().waitFor();
  await screenshot(animator, "account-choose-password-phone");
  await animator.getByLabel(/^Mot de passe/).fill("les-vignes-de-cahors-en-automne");
  await animator.getByLabel(/^Le même mot de passe/).fill("les-vignes-de-cahors-en-automne");
  await animator.getByRole("button", { name: "Enregistrer mon mot de passe" }).click();
  await animator.getByText("Votre mot de passe est enregistré").waitFor();
  await animator.getByLabel("Adresse électronique").fill("lucie.bach@lot.example");
  await animator.getByLabel("Mot de passe").fill("les-vignes-de-cahors-en-automne");
  await animator.getByRole("button", { name: "Se connecter" }).click();
  await animator.getByRole("heading", { level: 1, name: "Bonjour Lucie Bach" }).waitFor();
  assert.match(await animator.locator("main").innerText(), /animateur d’EPN/);

  // The link worked once.
  await animator.goto(link);
  await animator.getByRole("heading", { level: 1, name: "Ce lien n’est plus valable" }).waitFor();
});
