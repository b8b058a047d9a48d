// Independent OpenID provider (node-oidc-provider, https://github.com/panva/node-oidc-provider) for the
// contract test of LGC's Pro Santé Connect client. HTTPS on 127.0.0.1 with the sandbox test certificate,
// a native public client with PKCE and a loopback redirect, PSC-shaped claims, acr "eidas1".
//
// Usage: node server.mjs <cert.pem> <key.pem>; prints "LISTENING <port>" once ready.
import { readFileSync } from "node:fs";
import https from "node:https";
import { generateKeyPair, exportJWK } from "jose";
import Provider from "oidc-provider";

const [certPath, keyPath] = process.argv.slice(2);
const PRACTITIONERS = {
  "810101010101": { given_name: "Camille", family_name: "DURAND", profession: "60" },
  "810101010103": { given_name: "Léa", family_name: "MOREAU", profession: "50" },
};

function claimsOf(id) {
  const p = PRACTITIONERS[id];
  return {
    sub: `f:node:${id}`,
    SubjectNameID: id,
    given_name: p.given_name,
    family_name: p.family_name,
    SubjectRefPro: {
      codeCivilite: "MME",
      exercices: [
        {
          codeProfession: p.profession,
          prenomDexercice: p.given_name,
          nomDexercice: p.family_name,
          activities: [
            { raisonSocialeSite: "Cabinet paramédical des Tilleuls", codeModeExercice: "L", codePostal: "51100" },
          ],
        },
      ],
    },
  };
}

let handler = (req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = https.createServer(
  { cert: readFileSync(certPath), key: readFileSync(keyPath) },
  (req, res) => handler(req, res),
);

server.listen(0, "127.0.0.1", async () => {
  const port = server.address().port;
  const issuer = `https://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "node-key-1", use: "sig", alg: "RS256" };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: "lgc-desktop",
        application_type: "native",
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        redirect_uris: ["http://127.0.0.1/lgc/psc/callback"],
        post_logout_redirect_uris: ["http://127.0.0.1/lgc/psc/logout"],
      },
    ],
    jwks: { keys: [jwk] },
    scopes: ["openid", "scope_all", "offline_access"],
    claims: {
      openid: ["sub"],
      scope_all: ["SubjectNameID", "SubjectRefPro", "given_name", "family_name"],
    },
    acrValues: ["eidas1"],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
    findAccount: async (ctx, id) =>
      PRACTITIONERS[id] ? { accountId: id, claims: async () => claimsOf(id) } : undefined,
    cookies: { keys: ["lgc-contract-test-cookie-key"] },
    ttl: { AccessToken: 300, IdToken: 300, RefreshToken: 3600 },
  });
  provider.proxy = false;
  const callback = provider.callback();

  handler = async (req, res) => {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
    if (!match) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (!match[2]) {
        const rows = Object.entries(PRACTITIONERS)
          .map(([id, p]) => `<button name="login" value="${id}">${p.given_name} ${p.family_name}</button>`)
          .join(" ");
        res.setHeader("Content-Type", "text/html; charset=utf-8");
        res.end(
          `<!doctype html><title>Connexion</title><form method="post" action="/interaction/${details.uid}/login">` +
            `${rows}</form>`,
        );
        return;
      }
      const body = await new Promise((resolve) => {
        let data = "";
        req.on("data", (chunk) => (data += chunk));
        req.on("end", () => resolve(new URLSearchParams(data)));
      });
      const accountId = body.get("login");
      if (!PRACTITIONERS[accountId]) {
        await provider.interactionFinished(req, res, { error: "access_denied" }, { mergeWithLastSubmission: false });
        return;
      }
      const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      grant.addOIDCClaims(["SubjectNameID", "SubjectRefPro", "given_name", "family_name"]);
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId, acr: "eidas1", amr: ["mfa"] }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
    } catch (err) {
      res.statusCode = 400;
      res.end(String(err));
    }
  };
  console.log(`LISTENING ${port}`);
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
