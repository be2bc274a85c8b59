//! Operator bootstrap for a deployed stack, run from a workstation with AWS credentials and the
//! stack's outputs in the environment (see `docs/deploy-aws.md`): connect a district (its
//! record in DynamoDB; its secret, if `ROSTERSYNC_SOURCE_SECRET` is set, as an SSM
//! SecureString) and create an API token (only its SHA-256 hash is stored, in the bucket).
//!
//! ```text
//! cargo run -p lambda --example aws-admin -- connect d1 '{"kind":"clever","base_url":"https://api.clever.com","secret_ref":"districts/d1/source"}'
//! cargo run -p lambda --example aws-admin -- token d1 [--read-only]
//! ```

use anyhow::{Context, bail};
use app::secrets::Secret;
use domain::district::SourceConfig;
use lambda::{Deps, Function};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deps = Deps::from_env(Function::Api).await?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["connect", district, source] => {
            let source: SourceConfig =
                serde_json::from_str(source).context("the source is not valid JSON")?;
            let secret = std::env::var("ROSTERSYNC_SOURCE_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Secret::new);
            let stored = secret.is_some();
            let d = app::admin::connect(
                deps.ports.runs.as_ref(),
                deps.secrets.as_ref(),
                district,
                source,
                secret,
            )
            .await?;
            println!(
                "district {} connected to a {} source{}",
                d.id,
                d.source.as_ref().map(|s| s.kind_name()).unwrap_or("-"),
                if stored {
                    format!(
                        "; secret stored as {}{}",
                        deps.config.ssm_prefix,
                        app::admin::secret_name(&d.id)
                    )
                } else {
                    String::new()
                }
            );
        }
        ["token", district, rest @ ..] => {
            let read_only = rest.contains(&"--read-only");
            let token = api::create_token(deps.ports.objects.as_ref(), district, read_only).await?;
            println!("{token}");
            eprintln!("shown once: keep it in a password manager");
        }
        _ => bail!(
            "usage: aws-admin connect DISTRICT SOURCE_JSON | aws-admin token DISTRICT [--read-only]"
        ),
    }
    Ok(())
}
