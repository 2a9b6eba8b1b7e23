// A real OpenID Connect provider for the tests: the certified `oidc-provider` package (pinned by
// package-lock.json), started in the test's process on a free port of 127.0.0.1, set up the
// strict way a federation of public agents may be: the client secret only in the token request's
// body, PKCE required, the address only in a signed user-info answer (not in the ID token), and
// RP-initiated logout.
//
// Its sign-in page asks only for an address (the person's account at the provider is that
// address): the provider's own way of authenticating is not what the tests look at.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import Provider from "oidc-provider";

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      body += chunk;
      if (body.length > 10_000) reject(new Error("form too large"));
    });
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", reject);
  });
}

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const page = (title, body) => `<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;

/**
 * Starts the provider with one client. Returns its issuer, a switch that makes it issue ID tokens
 * already expired when they arrive, one that shows the return to the service as a link instead
 * of following it, one that dates sign-ins in the past, and `close`.
 */
export async function startIdentityProvider({ clientId, clientSecret, redirectUris, postLogoutRedirectUris }) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: "jwk" }), kid: randomBytes(8).toString("hex"), use: "sig", alg: "RS256" };
  let expiredIdTokens = false;
  let heldReturns = false;
  let authenticatedSecondsAgo = 0;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        post_logout_redirect_uris: postLogoutRedirectUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
        userinfo_signed_response_alg: "RS256",
        // The ID token says when the person was authenticated (`auth_time`).
        require_auth_time: true,
      },
    ],
    clientAuthMethods: ["client_secret_post"],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      jwtUserinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = "html";
          ctx.body = page(
            "Se déconnecter du fournisseur d’identité ?",
            `${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Oui, me déconnecter</button>`,
          );
        },
      },
    },
    ttl: {
      IdToken: () => (expiredIdTokens ? 1 : 3600),
    },
    findAccount: async (ctx, accountId) => ({
      accountId,
      claims: async () => ({ sub: accountId, email: accountId, email_verified: true }),
    }),
    // No consent screen: the service asks only for the address.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope("openid email");
      await grant.save();
      return grant;
    },
    interactions: { url: (ctx, interaction) => `/identification/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.body = page("Erreur du fournisseur d’identité", `<pre>${escape(JSON.stringify(out))}</pre>`);
    },
  });

  provider.use(async (ctx, next) => {
    if (ctx.path.startsWith("/identification/")) {
      if (ctx.method === "GET") {
        await provider.interactionDetails(ctx.req, ctx.res);
        ctx.type = "html";
        ctx.body = page(
          "Fournisseur d’identité de test",
          `<form method="post"><label for="login">Adresse électronique professionnelle</label>
<input id="login" name="login" type="email" autocomplete="off" required>
<button type="submit">Continuer</button></form>`,
        );
        return;
      }
      const form = await readForm(ctx.req);
      const to = await provider.interactionResult(
        ctx.req,
        ctx.res,
        {
          login: {
            accountId: String(form.get("login") || "").trim().toLowerCase(),
            ts: Math.floor(Date.now() / 1000) - authenticatedSecondsAgo,
          },
        },
        { mergeWithLastSubmission: false },
      );
      ctx.redirect(to);
      return;
    }
    await next();
    // A return held back: shown as a link instead of followed, for the test to alter it.
    const location = ctx.response.get("location");
    if (heldReturns && ctx.status >= 300 && ctx.status < 400 && redirectUris.some((uri) => location.startsWith(uri))) {
      ctx.status = 200;
      ctx.type = "html";
      ctx.remove("location");
      ctx.body = page("Retour retenu", `<p><a id="retour" href="${escape(location)}">Retour vers le service</a></p>`);
    }
    // An expired ID token is one that arrives after its expiry: the answer waits past it.
    if (expiredIdTokens && ctx.path === "/token") {
      await new Promise((resolve) => setTimeout(resolve, 2100));
    }
  });

  const server = provider.listen(port, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return {
    issuer,
    expireIdTokens(on) {
      expiredIdTokens = on;
    },
    holdReturns(on) {
      heldReturns = on;
    },
    /** Sign-ins from now on are recorded as made that long ago (`auth_time`). */
    authenticateSecondsAgo(seconds) {
      authenticatedSecondsAgo = seconds;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
