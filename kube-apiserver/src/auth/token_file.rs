//! `--token-auth-file`: static bearer tokens from a CSV file, upstream's oldest authenticator.
//!
//! One line per token: `token,user,uid,"group1,group2"` (the groups column is optional).
//! `kubectl --token=TOKEN` (or `token:` in a kubeconfig) then authenticates as that user.

use std::collections::HashMap;
use std::path::Path;

use super::{TokenAuthenticator, UserInfo, AUTHENTICATED};

/// The tokens of one file.
pub struct StaticTokens {
    users: HashMap<String, UserInfo>,
}

impl StaticTokens {
    pub fn from_file(path: &Path) -> anyhow::Result<StaticTokens> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--token-auth-file={}: {e}", path.display()))?;
        StaticTokens::parse(&text).map_err(|e| anyhow::anyhow!("--token-auth-file={}: {e}", path.display()))
    }

    /// Parses the CSV text; a line with fewer than 3 columns is an error, as upstream.
    pub fn parse(text: &str) -> anyhow::Result<StaticTokens> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
        let mut users = HashMap::new();
        for (i, record) in reader.records().enumerate() {
            let record = record?;
            if record.len() < 3 {
                anyhow::bail!("line {}: expected token,user,uid[,\"groups\"], got {} columns", i + 1, record.len());
            }
            let token = record[0].to_string();
            if token.is_empty() {
                anyhow::bail!("line {}: empty token", i + 1);
            }
            let mut groups: Vec<String> = record.get(3).unwrap_or("").split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect();
            groups.push(AUTHENTICATED.to_string());
            let user = UserInfo { name: record[1].to_string(), uid: record[2].to_string(), groups, ..UserInfo::default() };
            if users.insert(token, user).is_some() {
                tracing::warn!("--token-auth-file line {}: duplicate token, the last one wins", i + 1);
            }
        }
        Ok(StaticTokens { users })
    }
}

#[async_trait::async_trait]
impl TokenAuthenticator for StaticTokens {
    async fn authenticate(&self, token: &str) -> Option<Result<UserInfo, String>> {
        self.users.get(token).cloned().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_known_token_is_its_user_with_groups_and_an_unknown_one_is_not_ours() {
        let tokens = StaticTokens::parse("s3cret,alice,1001,\"dev,ops\"\n\nbot-token, bot ,42\n").unwrap();
        let alice = tokens.authenticate("s3cret").await.unwrap().unwrap();
        assert_eq!((alice.name.as_str(), alice.uid.as_str()), ("alice", "1001"));
        assert_eq!(alice.groups, ["dev", "ops", AUTHENTICATED]);
        assert_eq!(tokens.authenticate("bot-token").await.unwrap().unwrap().groups, [AUTHENTICATED]);
        assert!(tokens.authenticate("nope").await.is_none());
        assert!(StaticTokens::parse("only,two\n").is_err());
    }
}
