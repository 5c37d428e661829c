//! The process's credentials (global flags `--tls-cert`, `--tls-key`,
//! `--tls-ca`, `--token-file`, `JOUST_TOKEN`), checked once at start and
//! used by every command: roles for their listeners and outgoing calls,
//! client commands for their calls.

use std::sync::OnceLock;

use joust_security::{ClientSecurity, CredentialArgs};

static CREDENTIALS: OnceLock<(CredentialArgs, ClientSecurity)> = OnceLock::new();

/// Reads and checks the credential files; an error names the flag and
/// the file.
pub fn init(args: &CredentialArgs) -> anyhow::Result<()> {
    let client = args.client().load()?;
    let _ = CREDENTIALS.set((args.clone(), client));
    Ok(())
}

/// The flags as given (roles derive their listener TLS from them).
pub fn credentials() -> CredentialArgs {
    CREDENTIALS
        .get()
        .map(|(a, _)| a.clone())
        .unwrap_or_default()
}

/// TLS and token for outgoing calls.
pub fn client() -> ClientSecurity {
    CREDENTIALS
        .get()
        .map(|(_, c)| c.clone())
        .unwrap_or_default()
}
