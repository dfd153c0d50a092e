//! `ringbroker user add NAME --mechanism SCRAM-SHA-512 (--password PW | --password-file F)
//! --data-dir DIR [--iterations N]`: a SCRAM user for a broker that has not started yet, as
//! Kafka's `kafka-storage format --add-scram` (`security::credentials` explains the bootstrap
//! file and why). Only the salted credential is written, never the password. A running
//! cluster takes users online through AlterUserScramCredentials instead.
//!
//! Runs on the main thread of a short-lived process; no shard runs.
use super::args::{self, Spec};
use super::{CliError, Outcome};
use crate::cluster::metadata::{MetadataRecord, ScramMechanism};
use crate::limits::{SCRAM_ITERATIONS_DEFAULT, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN};
use crate::security::{credentials, scram};
use std::io::Write;
use std::path::Path;

const USAGE: &str = "usage: ringbroker user add NAME --mechanism SCRAM-SHA-256|SCRAM-SHA-512 \
                     (--password PW | --password-file FILE) --data-dir DIR [--iterations N]";

/// # Errors
/// Bad arguments, an unreadable password file, or the bootstrap file cannot be written.
pub fn run(action: &str, args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    let spec = Spec {
        values: &[
            "--mechanism",
            "--password",
            "--password-file",
            "--data-dir",
            "--iterations",
        ],
        switches: &[],
    };
    let parsed = args::parse(args, spec)?;
    let ("add", [name]) = (action, parsed.positional.as_slice()) else {
        return Err(CliError::Usage(USAGE));
    };
    let mechanism = parsed.value("--mechanism").ok_or(CliError::Usage(USAGE))?;
    let mechanism = ScramMechanism::parse(mechanism).ok_or_else(|| CliError::BadValue {
        flag: "--mechanism",
        value: mechanism.to_owned(),
        expected: "SCRAM-SHA-256 or SCRAM-SHA-512",
    })?;
    let password = password(&parsed)?;
    let iterations = parsed
        .number::<i32>("--iterations")?
        .unwrap_or(SCRAM_ITERATIONS_DEFAULT);
    if !(SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations) {
        return Err(CliError::BadValue {
            flag: "--iterations",
            value: iterations.to_string(),
            expected: "number in 4096..=16384",
        });
    }
    let data_dir = parsed.value("--data-dir").ok_or(CliError::Usage(USAGE))?;
    let credential = scram::new_credential(mechanism, password.as_bytes(), iterations)
        .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
    let record = MetadataRecord::ScramCredential {
        user: name.clone(),
        mechanism,
        credential: Some(credential),
    };
    credentials::add_to_bootstrap(Path::new(data_dir), &[record])
        .map_err(|error| CliError::Output(std::io::Error::other(error)))?;
    writeln!(
        out,
        "{} credential for user {name} written to {}; the broker's first start on this data \
         dir adds it to the cluster metadata",
        mechanism.name(),
        credentials::bootstrap_path(Path::new(data_dir)).display()
    )?;
    Ok(Outcome::Success)
}

/// `--password`, or the first line of `--password-file` (exactly one of them).
fn password(parsed: &args::Parsed) -> Result<String, CliError> {
    match (parsed.value("--password"), parsed.value("--password-file")) {
        (Some(password), None) if !password.is_empty() => Ok(password.to_owned()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)?;
            let line = text.lines().next().unwrap_or_default();
            if line.is_empty() {
                return Err(CliError::BadValue {
                    flag: "--password-file",
                    value: path.to_owned(),
                    expected: "file whose first line is the password",
                });
            }
            Ok(line.to_owned())
        }
        _ => Err(CliError::Usage(USAGE)),
    }
}
