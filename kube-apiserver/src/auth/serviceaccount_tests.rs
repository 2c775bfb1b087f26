//! Issuing and checking tokens against an in-memory store.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::auth::keys::tests::{ec_key, rsa_key};
use crate::storage::memory::MemoryBackend;
use crate::store::{prepare_create, WriteOptions};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

async fn store() -> Store {
    let store = Store::new(Arc::new(MemoryBackend::new()), "/registry");
    store.wait_ready().await;
    store
}

async fn create(store: &Store, plural: &str, body: Value) -> Value {
    let res = registry::by_plural("", plural).unwrap();
    let (object, _) = prepare_create(res, "default", body, &WriteOptions::default()).unwrap();
    store.insert(res, "default", object, false).await.unwrap()
}

async fn delete(store: &Store, plural: &str, name: &str) {
    let res = registry::by_plural("", plural).unwrap();
    store.delete_now(res, "default", name, None).await.unwrap();
}

struct Fixture {
    store: Store,
    issuer: Issuer,
    auth: Authenticator,
    sa: Value,
}

async fn fixture(key: PrivateKey) -> Fixture {
    let store = store().await;
    let sa = create(&store, "serviceaccounts", json!({"metadata": {"name": "default"}})).await;
    let issuer = Issuer::new(ISSUER, &key).unwrap();
    let auth = Authenticator { issuers: vec![ISSUER.into()], keys: vec![key.public_key()], audiences: vec![ISSUER.into()], store: store.clone() };
    Fixture { store, issuer, auth, sa }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn spec(sa: &Value) -> TokenSpec<'_> {
    TokenSpec { service_account: sa, bound: None, audiences: vec![ISSUER.into()], expiration_seconds: 3600, warn_after_seconds: None }
}

#[tokio::test]
async fn an_rs256_token_names_its_service_account_and_is_accepted_back() {
    let f = fixture(PrivateKey::Rsa(Box::new(rsa_key()))).await;
    let claims = claims(ISSUER, &spec(&f.sa), now());
    assert_eq!(claims.sub, "system:serviceaccount:default:default");
    assert_eq!(claims.kubernetes.serviceaccount.uid, str_at(&f.sa, "/metadata/uid"));
    assert_eq!(claims.exp - claims.iat, 3600);
    let token = f.issuer.sign(&claims).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid, Some(PrivateKey::Rsa(Box::new(rsa_key())).public_key().key_id()));

    let user = f.auth.authenticate(&token).await.unwrap().unwrap();
    assert_eq!(user.name, "system:serviceaccount:default:default");
    assert_eq!(user.uid, str_at(&f.sa, "/metadata/uid"));
    assert_eq!(user.groups, ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]);
    assert_eq!(user.extra["authentication.kubernetes.io/credential-id"], [format!("JTI={}", claims.jti)]);
}

#[tokio::test]
async fn es256_tokens_work_the_same() {
    let f = fixture(PrivateKey::Ec(ec_key())).await;
    let token = f.issuer.sign(&claims(ISSUER, &spec(&f.sa), now())).unwrap();
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, Algorithm::ES256);
    assert!(f.auth.authenticate(&token).await.unwrap().is_ok());
}

#[tokio::test]
async fn expired_or_not_yet_valid_tokens_are_refused() {
    let f = fixture(PrivateKey::Ec(ec_key())).await;
    let old = f.issuer.sign(&claims(ISSUER, &spec(&f.sa), now() - 2 * 3600)).unwrap();
    assert_eq!(f.auth.authenticate(&old).await.unwrap().unwrap_err(), "service account token has expired");
    let future = f.issuer.sign(&claims(ISSUER, &spec(&f.sa), now() + 3600)).unwrap();
    assert_eq!(f.auth.authenticate(&future).await.unwrap().unwrap_err(), "service account token is not valid yet");
}

#[tokio::test]
async fn other_issuers_are_not_ours_and_other_keys_or_audiences_are_refused() {
    let f = fixture(PrivateKey::Ec(ec_key())).await;
    // Another issuer: not a service-account token of this cluster; the next authenticator decides.
    let foreign = f.issuer.sign(&claims("https://elsewhere", &spec(&f.sa), now())).unwrap();
    assert!(f.auth.authenticate(&foreign).await.is_none());
    assert!(f.auth.authenticate("not-a-jwt").await.is_none());
    // Signed by a key the apiserver does not trust.
    let stranger = Issuer::new(ISSUER, &PrivateKey::Ec(ec_key())).unwrap();
    let forged = stranger.sign(&claims(ISSUER, &spec(&f.sa), now())).unwrap();
    assert!(f.auth.authenticate(&forged).await.unwrap().unwrap_err().contains("signature"));
    // Tampered with after signing: another service account's name in the payload.
    let token = f.issuer.sign(&claims(ISSUER, &spec(&f.sa), now())).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
    payload["sub"] = json!("system:serviceaccount:kube-system:admin");
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert!(f.auth.authenticate(&tampered).await.unwrap().is_err());
    // Meant for someone else.
    let mut for_vault = spec(&f.sa);
    for_vault.audiences = vec!["vault".into()];
    let vault = f.issuer.sign(&claims(ISSUER, &for_vault, now())).unwrap();
    let err = f.auth.authenticate(&vault).await.unwrap().unwrap_err();
    assert!(err.contains("is invalid for the target audiences"), "{err}");
    assert!(f.auth.authenticate_for(&vault, &["vault".into()]).await.unwrap().is_ok());
}

#[tokio::test]
async fn a_token_dies_with_its_service_account_even_if_recreated() {
    let f = fixture(PrivateKey::Ec(ec_key())).await;
    let token = f.issuer.sign(&claims(ISSUER, &spec(&f.sa), now())).unwrap();
    delete(&f.store, "serviceaccounts", "default").await;
    assert_eq!(f.auth.authenticate(&token).await.unwrap().unwrap_err(), "serviceaccounts \"default\" not found");
    create(&f.store, "serviceaccounts", json!({"metadata": {"name": "default"}})).await;
    assert!(f.auth.authenticate(&token).await.unwrap().unwrap_err().contains("does not match claim"));
}

#[tokio::test]
async fn a_pod_bound_token_carries_the_pod_and_dies_with_it() {
    let f = fixture(PrivateKey::Rsa(Box::new(rsa_key()))).await;
    let pod = create(&f.store, "pods", json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})).await;
    let mut s = spec(&f.sa);
    s.bound = Some(Bound::Pod(&pod));
    let claims = claims(ISSUER, &s, now());
    assert_eq!(claims.kubernetes.pod, Some(Ref { name: "web".into(), uid: str_at(&pod, "/metadata/uid").into() }));
    let token = f.issuer.sign(&claims).unwrap();
    let user = f.auth.authenticate(&token).await.unwrap().unwrap();
    assert_eq!(user.extra["authentication.kubernetes.io/pod-name"], ["web"]);
    assert_eq!(user.extra["authentication.kubernetes.io/pod-uid"], [str_at(&pod, "/metadata/uid")]);
    delete(&f.store, "pods", "web").await;
    assert_eq!(f.auth.authenticate(&token).await.unwrap().unwrap_err(), "pods \"web\" not found");
}

#[test]
fn the_claims_serialize_with_upstream_names() {
    let sa = json!({"metadata": {"name": "default", "namespace": "demo", "uid": "u1"}});
    let mut s = spec(&sa);
    s.warn_after_seconds = Some(3607);
    s.expiration_seconds = EXTENDED_EXPIRATION_SECONDS;
    let c = serde_json::to_value(claims(ISSUER, &s, 1000)).unwrap();
    assert_eq!(c["aud"], json!([ISSUER]));
    assert_eq!(c["iss"], ISSUER);
    assert_eq!((c["iat"].as_i64(), c["nbf"].as_i64(), c["exp"].as_i64()), (Some(1000), Some(1000), Some(1000 + EXTENDED_EXPIRATION_SECONDS)));
    assert_eq!(c["kubernetes.io"], json!({"namespace": "demo", "serviceaccount": {"name": "default", "uid": "u1"}, "warnafter": 4607}));
}
