/**
 * Interlude — Auth0 post-login Action (Login / Post Login trigger).
 *
 * Sends the user to Interlude mid-login with a signed `session_token`; Interlude picks the
 * campaign that applies (profile questions, marketing consent, Terms of Service, …), shows
 * it and posts the user back to /continue with a signed token carrying the outcome. On the
 * way back this Action checks that token and acts on it: answers go to the user's metadata
 * and into the ID token, consent and ToS acceptance go to app metadata, and a declined ToS
 * denies the login.
 *
 * Secrets (Action → Settings → Secrets):
 *   INTERLUDE_SECRET  the HS256 secret shared with Interlude (`openssl rand -hex 32`)
 *   INTERLUDE_URL     where Interlude runs, e.g. https://interlude.example.com (no trailing /)
 * Optional settings (also secrets, since custom Actions have no other settings; an Action
 * integration reads the same names from its configuration):
 *   INTERLUDE_CAMPAIGNS              comma-separated campaign ids this Action may show
 *                                    (default: every campaign Interlude has)
 *   INTERLUDE_APP_METADATA_CAMPAIGNS comma-separated campaign ids whose answers are stored
 *                                    in app_metadata instead of user_metadata
 *
 * Dependencies: none; only the `api` Auth0 hands in.
 */

/** Prefix of the custom claims added to the ID token (must be a URL you control). */
const CLAIM_NAMESPACE = 'https://interlude.example/';

/** Shown by Auth0 when the user declines the Terms of Service. */
const TOS_DECLINED = 'You must accept the Terms of Service to continue.';

/** Shown by Auth0 when the answer from Interlude cannot be verified. */
const BAD_RETURN = 'Your answer could not be verified. Please sign in again.';

/** A setting: the Action integration's configuration, else a secret. */
function setting(event, name) {
  const fromConfiguration = event.configuration && event.configuration[name];
  const value = fromConfiguration || (event.secrets && event.secrets[name]);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** A comma-separated setting as a list of non-empty items. */
function listSetting(event, name) {
  const value = setting(event, name);
  return value
    ? value.split(',').map((item) => item.trim()).filter((item) => item !== '')
    : [];
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * @param {Event} event - Details about the user and the context in which they are logging in.
 * @param {PostLoginAPI} api - Interface whose methods can be used to change the behavior of the login.
 */
exports.onExecutePostLogin = async (event, api) => {
  // Refresh tokens, the password grant and prompt=none cannot take a detour.
  if (!api.redirect.canRedirect()) {
    return;
  }
  const secret = event.secrets.INTERLUDE_SECRET;
  const base = (event.secrets.INTERLUDE_URL || '').replace(/\/+$/, '');
  if (!secret || !base) {
    console.log('Interlude: INTERLUDE_SECRET or INTERLUDE_URL is not set; no detour.');
    return;
  }
  const user = event.user;
  const userMetadata = user.user_metadata || {};

  // What Interlude's campaign triggers and form defaults read. Keep it small: Interlude
  // refuses tokens over 8 KiB, and metadata counts.
  const payload = {
    logins_count: event.stats ? event.stats.logins_count : undefined,
    email: user.email,
    email_verified: user.email_verified,
    locale: (event.request && event.request.language) || userMetadata.locale,
    given_name: user.given_name,
    family_name: user.family_name,
    user_metadata: userMetadata,
    app_metadata: user.app_metadata || {},
  };
  const campaigns = listSetting(event, 'INTERLUDE_CAMPAIGNS');
  if (campaigns.length === 1) {
    payload.campaign = campaigns[0];
  } else if (campaigns.length > 1) {
    payload.campaign = campaigns;
  }
  for (const key of Object.keys(payload)) {
    if (payload[key] === undefined || payload[key] === null) {
      delete payload[key];
    }
  }

  const token = api.redirect.encodeToken({
    secret,
    expiresInSeconds: 300,
    payload,
  });
  // Auth0 adds the `state` query parameter itself.
  api.redirect.sendUserTo(base + '/prompt', {
    query: { session_token: token },
  });
};

/**
 * @param {Event} event - Details about the user and the context in which they are logging in.
 * @param {PostLoginAPI} api - Interface whose methods can be used to change the behavior of the login.
 */
exports.onContinuePostLogin = async (event, api) => {
  let payload;
  try {
    // Checks the HS256 signature, the expiry and that the token's `state` is this login's.
    payload = api.redirect.validateToken({
      secret: event.secrets.INTERLUDE_SECRET,
      tokenParameterName: 'session_token',
    });
  } catch (err) {
    console.log('Interlude: the return token was refused: ' + (err && err.message));
    api.access.deny(BAD_RETURN);
    return;
  }

  const appMetadataCampaigns = new Set(listSetting(event, 'INTERLUDE_APP_METADATA_CAMPAIGNS'));
  const userMetadata = event.user.user_metadata || {};
  const appMetadata = event.user.app_metadata || {};
  const results = Array.isArray(payload.results) ? payload.results : [];

  // Consent is kept per purpose; purposes this detour did not ask about are kept as they were.
  let consent;

  for (const result of results) {
    if (!isPlainObject(result)) {
      continue;
    }

    // Terms of Service: present for `completed` and `declined` outcomes.
    if (isPlainObject(result.tos)) {
      if (result.tos.accepted === true) {
        const key = result.tos.document === 'terms' ? 'tos_version' : result.tos.document + '_version';
        if (!sameValue(appMetadata[key], result.tos.version)) {
          api.user.setAppMetadata(key, result.tos.version);
        }
      } else if (result.outcome === 'declined') {
        api.access.deny(TOS_DECLINED);
        return;
      }
    }

    // Consent: `{purpose: granted}` for `completed` and `declined` outcomes.
    if (isPlainObject(result.consent)) {
      if (consent === undefined) {
        consent = isPlainObject(appMetadata.consent) ? { ...appMetadata.consent } : {};
      }
      const at = new Date().toISOString();
      for (const [purpose, granted] of Object.entries(result.consent)) {
        consent[purpose] = { granted: granted === true, campaign: result.campaign, at };
      }
    }

    // Answers: only for `completed`, and only those the campaign declares as claims.
    if (result.outcome === 'completed' && isPlainObject(result.answers)) {
      const toAppMetadata = appMetadataCampaigns.has(result.campaign);
      const current = toAppMetadata ? appMetadata : userMetadata;
      for (const [key, value] of Object.entries(result.answers)) {
        if (!sameValue(current[key], value)) {
          if (toAppMetadata) {
            api.user.setAppMetadata(key, value);
          } else {
            api.user.setUserMetadata(key, value);
          }
        }
        api.idToken.setCustomClaim(CLAIM_NAMESPACE + key, value);
      }
    }
  }

  if (consent !== undefined) {
    api.user.setAppMetadata('consent', consent);
  }
};
