//! [`SsmSecrets`]: the [`SecretStore`] port on SSM Parameter Store. A secret named
//! `districts/d1/source` (what `app::admin::secret_name` gives) is the SecureString parameter
//! `{prefix}districts/d1/source`, e.g. `/rostersync/districts/d1/source`; the template grants
//! the functions that read sources `ssm:GetParameter*` on `/rostersync/*`. Values are decrypted
//! on read and never logged; errors name the parameter, never its value.

use app::secrets::{Secret, SecretError, SecretStore};
use async_trait::async_trait;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::ParameterType;

#[derive(Debug, Clone)]
pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
    prefix: String,
}

impl SsmSecrets {
    /// `prefix` starts and ends with `/` (checked by [`crate::Config`]).
    pub fn new(client: aws_sdk_ssm::Client, prefix: &str) -> Self {
        Self {
            client,
            prefix: prefix.to_string(),
        }
    }

    /// The parameter holding the secret `name`.
    pub fn parameter_name(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name.trim_start_matches('/'))
    }
}

#[async_trait]
impl SecretStore for SsmSecrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        let parameter = self.parameter_name(name);
        let out = self
            .client
            .get_parameter()
            .name(&parameter)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found())
                {
                    SecretError::Missing(parameter.clone())
                } else {
                    SecretError::Store {
                        path: format!("SSM parameter {parameter}"),
                        message: DisplayErrorContext(&e).to_string(),
                    }
                }
            })?;
        out.parameter
            .and_then(|p| p.value)
            .map(Secret::new)
            .ok_or(SecretError::Missing(parameter))
    }

    /// Stores the secret as a SecureString (the account's default `aws/ssm` key), replacing
    /// any earlier value.
    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let parameter = self.parameter_name(name);
        self.client
            .put_parameter()
            .name(&parameter)
            .value(value.expose())
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| SecretError::Store {
                path: format!("SSM parameter {parameter}"),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }
}
