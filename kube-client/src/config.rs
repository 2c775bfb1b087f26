//! Where the apiserver is and how to talk to it: the [`Config`] every client starts from.
//!
//! Two sources, with upstream's precedence:
//! 1. a kubeconfig file: `--kubeconfig`, else the first file of `$KUBECONFIG`, else
//!    `~/.kube/config` (a file that is not there is skipped, except one named by a flag);
//! 2. `--master` (`--server` in kubectl), which overrides the kubeconfig's `server` but keeps
//!    its credentials.
//!
//! With neither, we fall back to `http://localhost:8080` as kubectl does — the apiserver's
//! old insecure port, which is exactly what seed 000 relies on.
//!
//! Every binary shares the same two flags through [`ClientArgs`] (`#[command(flatten)]`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use url::Url;

use crate::kubeconfig::{Kubeconfig, User};

/// Why no [`Config`] could be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The kubeconfig file could not be read.
    #[error("cannot read kubeconfig {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig file is not valid YAML in upstream's shape.
    #[error("cannot parse kubeconfig {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    /// `--context` (or `current-context`) names a context the file does not have.
    #[error("context was not found for specified context: {0}")]
    ContextNotFound(String),
    /// A context names a cluster the file does not have.
    #[error("cluster {cluster:?} of context {context:?} was not found in the kubeconfig")]
    ClusterNotFound { context: String, cluster: String },
    /// A context names a user the file does not have.
    #[error("user {user:?} of context {context:?} was not found in the kubeconfig")]
    UserNotFound { context: String, user: String },
    /// The cluster entry has no `server`.
    #[error("invalid configuration: cluster {0:?} has no server defined")]
    NoServer(String),
    /// The server address is not a URL we can use.
    #[error("invalid server address {server:?}: {reason}")]
    InvalidServer { server: String, reason: String },
    /// A `*-data` field is not valid base64.
    #[error("invalid base64 in {field}: {source}")]
    Base64 {
        field: &'static str,
        #[source]
        source: base64::DecodeError,
    },
    /// A certificate, key or token file named in the kubeconfig could not be read.
    #[error("cannot read {field} file {path}: {source}")]
    ReadFile {
        field: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Everything a [`Client`](crate::Client) needs: the server, the credentials, the default
/// namespace and the identity (`User-Agent`) of the component.
#[derive(Clone, Debug)]
pub struct Config {
    /// The apiserver's base URL, e.g. `http://127.0.0.1:8080` (no trailing slash).
    pub server: Url,
    /// The namespace of the context (`default` when it names none).
    pub namespace: String,
    /// Certificates and keys, parsed now and used once TLS lands.
    pub tls: TlsConfig,
    /// How requests prove who sends them.
    pub auth: Auth,
    /// Sent on every request, e.g. `kube-scheduler/v1.33.0 (linux/amd64) kubernetes/rust`.
    pub user_agent: String,
    /// How long to wait for a TCP connection.
    pub connect_timeout: Duration,
    /// How long a whole non-streaming request may take (watches and `logs -f` are exempt).
    pub request_timeout: Duration,
}

/// The TLS material of a kubeconfig, as PEM bytes (files read, base64 decoded).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsConfig {
    pub ca_pem: Option<Vec<u8>>,
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
    pub server_name: Option<String>,
}

/// Credentials sent in the `Authorization` header.
#[derive(Clone, PartialEq, Default)]
pub enum Auth {
    #[default]
    None,
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    /// Never print secrets into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
        }
    }
}

/// What the loading rules take: the flags of a command line.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--master` / `--server`: overrides the kubeconfig's server.
    pub master: Option<String>,
    /// `--kubeconfig`: this file and no other.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: instead of `current-context`.
    pub context: Option<String>,
}

/// The flags every component shares to find the apiserver. Flatten into a binary's flags:
/// `#[command(flatten)] client: ClientArgs`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ClientArgs {
    /// The address of the Kubernetes API server (overrides any value in kubeconfig)
    #[arg(long, value_name = "string")]
    pub master: Option<String>,
    /// Path to kubeconfig file with authorization and master location information (the master location can be overridden by the master flag).
    #[arg(long, value_name = "string")]
    pub kubeconfig: Option<PathBuf>,
}

impl ClientArgs {
    /// The [`Config`] these flags (and `$KUBECONFIG`, `~/.kube/config`) describe.
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::load(&LoadOptions {
            master: self.master.clone(),
            kubeconfig: self.kubeconfig.clone(),
            context: None,
        })
    }
}

/// The fallback server when nothing is configured, as kubectl's.
pub const DEFAULT_SERVER: &str = "http://localhost:8080";

impl Config {
    /// A config for a bare server address: `http://127.0.0.1:8080`, or `127.0.0.1:8080`
    /// (seed 000's `--api-servers=127.0.0.1:8080`), which means plain HTTP.
    pub fn from_server(server: &str) -> Result<Config, ConfigError> {
        Ok(Config {
            server: normalize_server(server)?,
            namespace: "default".to_string(),
            tls: TlsConfig::default(),
            auth: Auth::None,
            user_agent: crate::client::user_agent("kube-client"),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        })
    }

    /// The config of one context of a kubeconfig (`context`, else `current-context`).
    /// Relative file paths in the kubeconfig are relative to `base_dir`, the file's folder.
    pub fn from_kubeconfig(
        kc: &Kubeconfig,
        context: Option<&str>,
        base_dir: &Path,
    ) -> Result<Config, ConfigError> {
        let ctx_name = context.unwrap_or(&kc.current_context);
        let ctx = kc
            .context(ctx_name)
            .ok_or_else(|| ConfigError::ContextNotFound(ctx_name.to_string()))?;
        let cluster = kc
            .cluster(&ctx.cluster)
            .ok_or_else(|| ConfigError::ClusterNotFound {
                context: ctx_name.to_string(),
                cluster: ctx.cluster.clone(),
            })?;
        let user = if ctx.user.is_empty() {
            User::default()
        } else {
            kc.user(&ctx.user)
                .cloned()
                .ok_or_else(|| ConfigError::UserNotFound {
                    context: ctx_name.to_string(),
                    user: ctx.user.clone(),
                })?
        };
        if cluster.server.is_empty() {
            return Err(ConfigError::NoServer(ctx.cluster.clone()));
        }
        let mut config = Config::from_server(&cluster.server)?;
        config.namespace = ctx
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        config.tls = TlsConfig {
            ca_pem: data_or_file(
                "certificate-authority",
                &cluster.certificate_authority_data,
                &cluster.certificate_authority,
                base_dir,
            )?,
            client_cert_pem: data_or_file(
                "client-certificate",
                &user.client_certificate_data,
                &user.client_certificate,
                base_dir,
            )?,
            client_key_pem: data_or_file(
                "client-key",
                &user.client_key_data,
                &user.client_key,
                base_dir,
            )?,
            insecure_skip_verify: cluster.insecure_skip_tls_verify,
            server_name: cluster.tls_server_name.clone(),
        };
        config.auth = if let Some(token) = user.token.clone().filter(|t| !t.is_empty()) {
            Auth::Bearer(token)
        } else if let Some(file) = &user.token_file {
            let path = base_dir.join(file);
            let token = std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile {
                field: "tokenFile",
                path,
                source,
            })?;
            Auth::Bearer(token.trim().to_string())
        } else if let (Some(username), Some(password)) = (&user.username, &user.password) {
            Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            }
        } else {
            Auth::None
        };
        Ok(config)
    }

    /// Upstream's loading rules (see the module comment) over the real environment.
    pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
        let path = kubeconfig_path(
            opts.kubeconfig.as_deref(),
            std::env::var_os("KUBECONFIG"),
            std::env::var_os("HOME").map(PathBuf::from),
        );
        Config::load_from(opts, path.as_deref())
    }

    /// The loading rules with the kubeconfig path already chosen (`None`: no file).
    pub fn load_from(opts: &LoadOptions, kubeconfig: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match kubeconfig {
            Some(path) => Some((
                read_kubeconfig(path)?,
                path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            )),
            None => None,
        };
        let mut config = match (&file, &opts.master, &opts.context) {
            // A file with a usable context (or an explicit --context, which must exist).
            (Some((kc, dir)), _, ctx) if ctx.is_some() || !kc.current_context.is_empty() => {
                Config::from_kubeconfig(kc, ctx.as_deref(), dir)?
            }
            (_, Some(master), _) => Config::from_server(master)?,
            _ => {
                tracing::warn!(
                    "neither --kubeconfig nor --master was specified: using {DEFAULT_SERVER}"
                );
                Config::from_server(DEFAULT_SERVER)?
            }
        };
        if let Some(master) = &opts.master {
            config.server = normalize_server(master)?;
        }
        Ok(config)
    }

    /// The namespace of the kubeconfig's context, `default` otherwise: where a command
    /// without `-n` acts.
    pub fn default_namespace(&self) -> &str {
        &self.namespace
    }

    /// Names the component in the `User-Agent` header, upstream style:
    /// `kube-scheduler/v1.33.0 (linux/amd64) kubernetes/rust`.
    pub fn with_user_agent(mut self, component: &str) -> Config {
        self.user_agent = crate::client::user_agent(component);
        self
    }

    /// `host:port` of the server, as kubectl names it in messages (`127.0.0.1:8080`).
    pub fn server_authority(&self) -> String {
        authority(&self.server)
    }
}

pub(crate) fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Turns what a user typed into a base URL: `127.0.0.1:8080` → `http://127.0.0.1:8080`
/// (no scheme means plain HTTP, as client-go decides when no TLS is configured); a trailing
/// `/` is dropped; a path prefix (`http://host/k8s`) is kept.
pub fn normalize_server(server: &str) -> Result<Url, ConfigError> {
    let trimmed = server.trim();
    let invalid = |reason: &str| ConfigError::InvalidServer {
        server: server.to_string(),
        reason: reason.to_string(),
    };
    if trimmed.is_empty() {
        return Err(invalid("empty"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a server address has no query or fragment"));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// Which kubeconfig file to read: the flag, else `$KUBECONFIG`'s first existing entry,
/// else `$HOME/.kube/config` if it exists.
pub fn kubeconfig_path(
    flag: Option<&Path>,
    env: Option<OsString>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    if let Some(path) = flag {
        return Some(path.to_path_buf());
    }
    if let Some(env) = env {
        if let Some(first) =
            std::env::split_paths(&env).find(|p| !p.as_os_str().is_empty() && p.exists())
        {
            return Some(first);
        }
    }
    home.map(|h| h.join(".kube").join("config"))
        .filter(|p| p.exists())
}

fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    Kubeconfig::parse(&text).map_err(|source| ConfigError::Parse {
        path: path.into(),
        source,
    })
}

/// A `*-data` field (base64 PEM) wins over the matching file field, as upstream.
fn data_or_file(
    field: &'static str,
    data: &Option<String>,
    file: &Option<String>,
    base_dir: &Path,
) -> Result<Option<Vec<u8>>, ConfigError> {
    if let Some(data) = data.as_deref().filter(|d| !d.is_empty()) {
        let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(Some)
            .map_err(|source| ConfigError::Base64 { field, source });
    }
    match file.as_deref().filter(|f| !f.is_empty()) {
        Some(file) => {
            let path = base_dir.join(file);
            std::fs::read(&path)
                .map(Some)
                .map_err(|source| ConfigError::ReadFile {
                    field,
                    path,
                    source,
                })
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeconfig::SEED_003_ADMIN_CONF;

    #[test]
    fn server_addresses_are_normalized() {
        for (input, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("localhost:8080", "http://localhost:8080/"),
            ("http://localhost:8080/", "http://localhost:8080/"),
            ("https://127.0.0.1:6443", "https://127.0.0.1:6443/"),
            (
                "http://10.0.0.1:8080/prefix/",
                "http://10.0.0.1:8080/prefix",
            ),
            (" localhost ", "http://localhost/"),
        ] {
            assert_eq!(normalize_server(input).unwrap().as_str(), want, "{input}");
        }
        for bad in ["", "ftp://host", "http://", "http://h:8080/?x=1"] {
            assert!(normalize_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_authority_is_what_kubectl_prints() {
        let c = Config::from_server("127.0.0.1:8080").unwrap();
        assert_eq!(c.server_authority(), "127.0.0.1:8080");
        let c = Config::from_server("https://localhost").unwrap();
        assert_eq!(c.server_authority(), "localhost:443");
    }

    #[test]
    fn a_kubeconfig_context_gives_server_certificates_and_namespace() {
        let kc = Kubeconfig::parse(SEED_003_ADMIN_CONF).unwrap();
        let c = Config::from_kubeconfig(&kc, None, Path::new("/nonexistent")).unwrap();
        assert_eq!(c.server.as_str(), "https://127.0.0.1:6443/");
        assert_eq!(c.default_namespace(), "default");
        let ca = String::from_utf8(c.tls.ca_pem.unwrap()).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        assert!(String::from_utf8(c.tls.client_key_pem.unwrap())
            .unwrap()
            .contains("RSA PRIVATE KEY"));
        assert!(c.tls.client_cert_pem.is_some());
        assert_eq!(c.auth, Auth::None);
    }

    #[test]
    fn context_override_namespace_token_and_files_relative_to_the_kubeconfig() {
        let dir = std::env::temp_dir().join(format!("kube-client-cfg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        std::fs::write(dir.join("certs/ca.pem"), "CA PEM").unwrap();
        let kc = Kubeconfig::parse(
            r#"
clusters:
- name: local
  cluster: {server: "http://127.0.0.1:8080", certificate-authority: certs/ca.pem, insecure-skip-tls-verify: true}
users:
- name: bot
  user: {token: s3cret}
contexts:
- name: a
  context: {cluster: local, user: bot, namespace: kube-system}
- name: b
  context: {cluster: local}
current-context: b
"#,
        )
        .unwrap();
        let c = Config::from_kubeconfig(&kc, Some("a"), &dir).unwrap();
        assert_eq!(c.default_namespace(), "kube-system");
        assert_eq!(c.auth, Auth::Bearer("s3cret".into()));
        assert_eq!(c.tls.ca_pem.as_deref(), Some(&b"CA PEM"[..]));
        assert!(c.tls.insecure_skip_verify);
        assert!(
            !format!("{:?}", c.auth).contains("s3cret"),
            "secrets stay out of logs"
        );

        let missing = Config::from_kubeconfig(&kc, Some("nope"), &dir).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "context was not found for specified context: nope"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn master_overrides_the_kubeconfig_server_but_keeps_its_credentials() {
        let dir = std::env::temp_dir().join(format!("kube-client-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("admin.conf");
        std::fs::write(&path, SEED_003_ADMIN_CONF).unwrap();
        let opts = LoadOptions {
            master: Some("127.0.0.1:8080".into()),
            ..Default::default()
        };
        let c = Config::load_from(&opts, Some(&path)).unwrap();
        assert_eq!(c.server.as_str(), "http://127.0.0.1:8080/");
        assert!(c.tls.client_cert_pem.is_some());

        let c = Config::load_from(&LoadOptions::default(), Some(&path)).unwrap();
        assert_eq!(c.server.as_str(), "https://127.0.0.1:6443/");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn with_nothing_configured_the_server_is_localhost_8080() {
        let c = Config::load_from(&LoadOptions::default(), None).unwrap();
        assert_eq!(c.server_authority(), "localhost:8080");
        let c = Config::load_from(
            &LoadOptions {
                master: Some("http://10.1.2.3:8080".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(c.server_authority(), "10.1.2.3:8080");
    }

    #[test]
    fn the_kubeconfig_flag_wins_then_the_first_existing_kubeconfig_entry_then_home() {
        let dir = std::env::temp_dir().join(format!("kube-client-path-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".kube")).unwrap();
        std::fs::write(dir.join("one"), "").unwrap();
        std::fs::write(dir.join(".kube/config"), "").unwrap();
        let flag = PathBuf::from("/explicit");
        assert_eq!(kubeconfig_path(Some(&flag), None, None), Some(flag.clone()));
        let env = std::env::join_paths([dir.join("missing"), dir.join("one")]).unwrap();
        assert_eq!(
            kubeconfig_path(None, Some(env), Some(dir.clone())),
            Some(dir.join("one"))
        );
        assert_eq!(
            kubeconfig_path(None, None, Some(dir.clone())),
            Some(dir.join(".kube/config"))
        );
        assert_eq!(kubeconfig_path(None, None, Some(dir.join("nohome"))), None);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn every_binary_can_flatten_the_client_flags() {
        use clap::{CommandFactory, Parser};
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            client: ClientArgs,
        }
        let cli =
            Cli::try_parse_from(["kube-scheduler", "--master=http://localhost:8080"]).unwrap();
        assert_eq!(
            cli.client.config().unwrap().server_authority(),
            "localhost:8080"
        );
        let help = Cli::command().render_help().to_string();
        assert!(
            help.contains(
                "The address of the Kubernetes API server (overrides any value in kubeconfig)"
            ),
            "{help}"
        );
    }
}
