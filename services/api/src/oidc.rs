//! The OpenID Connect client side of a territory's provider (ProConnect for public agents): the
//! discovery document, cached; the authorization code flow with PKCE, `state` and `nonce`; the
//! ID token's signature and claims (issuer, audience, expiry, nonce) checked by `openidconnect`;
//! the address from the ID token or, when the provider keeps it there, from the
//! user-info endpoint, signed or not; and the provider's logout address.
//!
//! Every call to a provider goes through one HTTP client (hyper's, with rustls on ring and
//! webpki's roots) that follows no redirect, gives up after ten seconds, reads at most 256 KiB of
//! an answer, and calls plain `http` only on this machine and only when `OIDC_LOCAL_ISSUERS`
//! allows it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod,
    CoreJwsSigningAlgorithm, CoreUserInfoClaims,
};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndSessionUrl,
    HttpRequest, HttpResponse, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse,
};
use passerelle_core::tenancy::provider_sign_in::{ProviderClient, VouchedIdentity};

/// How long a discovery document (and the keys it points to) is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(15 * 60);
/// The most of a provider's answer that is read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// What the service asks for: who the person is and their address, nothing else.
pub const SCOPES: [&str; 2] = ["openid", "email"];

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider's address is refused: {0}")]
    Address(String),
    #[error("cannot reach the provider: {0}")]
    Unreachable(String),
    #[error("the provider's discovery document is unusable: {0}")]
    Discovery(String),
    #[error("the provider refused the code: {0}")]
    Exchange(String),
    #[error("the ID token does not verify: {0}")]
    IdToken(String),
    #[error("the user-info answer is unusable: {0}")]
    UserInfo(String),
}

/// What is kept between sending the person to the provider and their return: what proves the
/// return is the answer to this request, and where to go back to.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub issuer: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// A page of the portal to open after sign-in.
    pub back: Option<String>,
    /// Asked before money moves: the return must come from an authentication just made.
    pub reauthenticate: bool,
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<hyper::body::Bytes>,
>;

/// The HTTP client every provider call goes through.
#[derive(Clone)]
struct ProviderHttp {
    client: Option<HttpsClient>,
    local_allowed: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl ProviderHttp {
    fn new(local_allowed: bool) -> Self {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        http.enforce_http(false);
        // Cannot fail with ring's provider; if it ever did, every call says so.
        let client = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map(|builder| {
                let connector = builder.https_or_http().enable_http1().wrap_connector(http);
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build(connector)
            })
            .inspect_err(|e| tracing::error!(error = %e, "no TLS for identity providers"))
            .ok();
        Self {
            client,
            local_allowed,
        }
    }

    fn check_address(&self, url: &str) -> Result<(), ProviderError> {
        let allowed = url.starts_with("https://")
            || (self.local_allowed
                && passerelle_core::tenancy::identity_provider::is_issuer(url)
                && url.starts_with("http://"));
        if allowed {
            Ok(())
        } else {
            Err(ProviderError::Address(url.to_owned()))
        }
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        use http_body_util::BodyExt;
        let url = request.uri().to_string();
        self.check_address(&url)
            .map_err(|e| HttpError(e.to_string()))?;
        let request = request.map(|body| http_body_util::Full::new(hyper::body::Bytes::from(body)));
        let exchange = async {
            let client = self
                .client
                .as_ref()
                .ok_or_else(|| HttpError("no TLS client".into()))?;
            let answer = client
                .request(request)
                .await
                .map_err(|e| HttpError(format!("{url}: {}", error_chain(&e))))?;
            let (parts, body) = answer.into_parts();
            let body = http_body_util::Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| HttpError(format!("{url}: {e}")))?
                .to_bytes()
                .to_vec();
            Ok(HttpResponse::from_parts(parts, body))
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .map_err(|_| HttpError(format!("{url}: no answer within 10 s")))?
    }
}

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// The providers of every territory, as this process sees them: one HTTP client and the
/// discovery documents fetched lately, by issuer.
pub struct Providers {
    http: ProviderHttp,
    discovered: Mutex<HashMap<String, (Instant, Arc<ProviderMetadataWithLogout>)>>,
}

impl Providers {
    pub fn new(local_allowed: bool) -> Self {
        Self {
            http: ProviderHttp::new(local_allowed),
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// The provider's discovery document, from the cache unless `fresh` or stale.
    async fn metadata(
        &self,
        issuer: &str,
        fresh: bool,
    ) -> Result<Arc<ProviderMetadataWithLogout>, ProviderError> {
        if !fresh
            && let Ok(cache) = self.discovered.lock()
            && let Some((at, metadata)) = cache.get(issuer)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(metadata.clone());
        }
        self.http.check_address(issuer)?;
        let issuer_url =
            IssuerUrl::new(issuer.to_owned()).map_err(|e| ProviderError::Address(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer_url, &self.http)
            .await
            .map_err(|e| ProviderError::Discovery(error_chain(&e)))?;
        // The endpoints it names are called too: the same rule applies to them.
        self.http
            .check_address(metadata.authorization_endpoint().as_str())?;
        if let Some(token) = metadata.token_endpoint() {
            self.http.check_address(token.as_str())?;
        }
        let metadata = Arc::new(metadata);
        if let Ok(mut cache) = self.discovered.lock() {
            cache.insert(issuer.to_owned(), (Instant::now(), metadata.clone()));
        }
        Ok(metadata)
    }

    fn client(
        &self,
        provider: &ProviderClient,
        metadata: &ProviderMetadataWithLogout,
        redirect_uri: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        ProviderError,
    > {
        // `client_secret_basic` unless the provider's discovery document lists only
        // `client_secret_post` (the secret in the token request's body).
        let body_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|methods| {
                !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && methods.contains(&CoreClientAuthMethod::ClientSecretPost)
            });
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(provider.client_id.clone()),
            Some(ClientSecret::new(provider.client_secret.clone())),
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_owned())
                .map_err(|e| ProviderError::Address(e.to_string()))?,
        );
        Ok(if body_only {
            client.set_auth_type(openidconnect::AuthType::RequestBody)
        } else {
            client
        })
    }

    /// Where to send the person, and what to keep until they come back. `reauthenticate` asks
    /// the provider to authenticate them again whatever its own session (before money moves).
    pub async fn begin(
        &self,
        provider: &ProviderClient,
        redirect_uri: &str,
        reauthenticate: bool,
        back: Option<String>,
    ) -> Result<(String, CsrfToken, Pending), ProviderError> {
        let metadata = self.metadata(&provider.issuer, false).await?;
        let client = self.client(provider, &metadata, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in SCOPES.iter().skip(1) {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        if reauthenticate {
            request = request
                .add_prompt(CoreAuthPrompt::Login)
                .set_max_age(Duration::ZERO);
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            state,
            Pending {
                issuer: provider.issuer.clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                back,
                reauthenticate,
            },
        ))
    }

    /// The person back from the provider with `code`: the code exchanged (with the PKCE
    /// verifier), the ID token verified, and who it vouches for.
    pub async fn finish(
        &self,
        provider: &ProviderClient,
        redirect_uri: &str,
        pending: Pending,
        code: String,
    ) -> Result<VouchedIdentity, ProviderError> {
        if pending.issuer != provider.issuer {
            return Err(ProviderError::IdToken(
                "the provider changed since the sign-in began".into(),
            ));
        }
        let metadata = self.metadata(&provider.issuer, false).await?;
        let client = self.client(provider, &metadata, redirect_uri)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| ProviderError::Discovery(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| ProviderError::Exchange(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| ProviderError::IdToken("no ID token in the answer".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(signing_algorithms(&metadata));
        let claims = match id_token.claims(&verifier, &nonce) {
            Ok(claims) => claims.clone(),
            // Signed with a key published since the document was cached: fetched again once.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let metadata = self.metadata(&provider.issuer, true).await?;
                let client = self.client(provider, &metadata, redirect_uri)?;
                id_token
                    .claims(
                        &client
                            .id_token_verifier()
                            .set_allowed_algs(signing_algorithms(&metadata)),
                        &nonce,
                    )
                    .map_err(|e| ProviderError::IdToken(error_chain(&e)))?
                    .clone()
            }
            Err(e) => return Err(ProviderError::IdToken(error_chain(&e))),
        };
        let verified_email = |email: Option<&openidconnect::EndUserEmail>,
                              verified: Option<bool>| {
            email
                .filter(|_| verified != Some(false))
                .map(|e| e.as_str().to_owned())
        };
        let mut email = verified_email(claims.email(), claims.email_verified());
        if email.is_none() {
            let request = client.user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            );
            if let Ok(request) = request {
                let info: CoreUserInfoClaims = request
                    .request_async(&self.http)
                    .await
                    .map_err(|e| ProviderError::UserInfo(error_chain(&e)))?;
                email = verified_email(info.email(), info.email_verified());
            }
        }
        let authenticated_at = claims.auth_time();
        Ok(VouchedIdentity {
            issuer: provider.issuer.clone(),
            subject: claims.subject().as_str().to_owned(),
            email,
            authenticated_at,
            id_token: id_token.to_string(),
        })
    }

    /// The provider's logout address for a session it opened, coming back to
    /// `post_logout_redirect_uri`; `None` when the provider has no logout endpoint.
    pub async fn logout_url(
        &self,
        issuer: &str,
        id_token: &str,
        post_logout_redirect_uri: &str,
    ) -> Option<String> {
        let metadata = match self.metadata(issuer, false).await {
            Ok(metadata) => metadata,
            Err(e) => {
                tracing::warn!(error = %e, "no logout at the provider");
                return None;
            }
        };
        let endpoint: EndSessionUrl = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        self.http.check_address(endpoint.as_str()).ok()?;
        let id_token = id_token.parse::<openidconnect::core::CoreIdToken>().ok()?;
        let mut request = LogoutRequest::from(endpoint)
            .set_id_token_hint(&id_token)
            .set_state(CsrfToken::new_random());
        if let Ok(url) = PostLogoutRedirectUrl::new(post_logout_redirect_uri.to_owned()) {
            request = request.set_post_logout_redirect_uri(url);
        }
        Some(request.http_get_url().to_string())
    }
}

/// The ID token signatures accepted: those the provider says it uses, public-key ones only (a
/// token signed with the client secret, or not at all, is refused).
fn signing_algorithms(metadata: &ProviderMetadataWithLogout) -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as Alg;
    let public_key = [
        Alg::RsaSsaPkcs1V15Sha256,
        Alg::RsaSsaPkcs1V15Sha384,
        Alg::RsaSsaPkcs1V15Sha512,
        Alg::RsaSsaPssSha256,
        Alg::RsaSsaPssSha384,
        Alg::RsaSsaPssSha512,
        Alg::EcdsaP256Sha256,
        Alg::EcdsaP384Sha384,
        Alg::EcdsaP521Sha512,
        Alg::EdDsa,
    ];
    metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| public_key.contains(alg))
        .cloned()
        .collect()
}

/// An error with its causes, for the log.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
