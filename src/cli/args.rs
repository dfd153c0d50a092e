//! A small argument parser for the admin subcommands: positionals, `--flag VALUE` /
//! `--flag=VALUE` (repeatable), and switches. Each command declares its flags, so a typo is an
//! error rather than a silently ignored word.
//!
//! Runs on the main thread of the `ringbroker` process, before any connection is made.
use super::CliError;

/// What one command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Flags that take a value.
    pub values: &'static [&'static str],
    /// Flags without a value.
    pub switches: &'static [&'static str],
}

/// Parsed arguments of one command.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub positional: Vec<String>,
    values: Vec<(&'static str, String)>,
    switches: Vec<&'static str>,
}

/// [`parse`] for a command that takes flags only: a positional argument is `usage`.
///
/// # Errors
/// As [`parse`], and `Usage(usage)` for a positional argument.
pub fn parse_flags(args: &[String], spec: Spec, usage: &'static str) -> Result<Parsed, CliError> {
    let parsed = parse(args, spec)?;
    if !parsed.positional.is_empty() {
        return Err(CliError::Usage(usage));
    }
    Ok(parsed)
}

/// Parses `args` (after the command words) against `spec`.
///
/// # Errors
/// `UnknownFlag` or `MissingValue`.
pub fn parse(args: &[String], spec: Spec) -> Result<Parsed, CliError> {
    let mut parsed = Parsed::default();
    let mut rest = args.iter();
    // Bounded by the argument count: each iteration consumes at least one argument.
    while let Some(arg) = rest.next() {
        if !arg.starts_with("--") || arg == "--" {
            parsed.positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        if let Some(flag) = spec.values.iter().find(|flag| **flag == name) {
            let value = inline
                .or_else(|| rest.next().cloned())
                .ok_or(CliError::MissingValue { flag })?;
            parsed.values.push((flag, value));
        } else if let Some(flag) = spec.switches.iter().find(|flag| **flag == name) {
            if inline.is_some() {
                return Err(CliError::UnexpectedValue { flag });
            }
            parsed.switches.push(flag);
        } else {
            return Err(CliError::UnknownFlag {
                flag: name.to_owned(),
            });
        }
    }
    Ok(parsed)
}

impl Parsed {
    /// The last value given for `flag`.
    #[must_use]
    pub fn value(&self, flag: &str) -> Option<&str> {
        self.values(flag).last()
    }

    /// Every value given for `flag`, in order.
    pub fn values<'a>(&'a self, flag: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let flag = flag.to_owned();
        self.values
            .iter()
            .filter(move |(name, _)| *name == flag)
            .map(|(_, value)| value.as_str())
    }

    #[must_use]
    pub fn switch(&self, flag: &str) -> bool {
        self.switches.contains(&flag)
    }

    /// `flag` parsed as a number, `None` when absent.
    ///
    /// # Errors
    /// `BadValue` when present but not a `T`.
    pub fn number<T: std::str::FromStr>(&self, flag: &'static str) -> Result<Option<T>, CliError> {
        self.value(flag)
            .map(|value| {
                value.parse().map_err(|_| CliError::BadValue {
                    flag,
                    value: value.to_owned(),
                    expected: "number",
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        values: &["--partitions", "--config"],
        switches: &["--dry-run"],
    };

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn values_switches_and_positionals() {
        let parsed = parse(
            &words("orders --partitions 3 --config a=1 --config=b=2 --dry-run more"),
            SPEC,
        )
        .unwrap();
        assert_eq!(parsed.positional, vec!["orders", "more"]);
        assert_eq!(parsed.number::<i32>("--partitions").unwrap(), Some(3));
        assert_eq!(
            parsed.values("--config").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        assert!(parsed.switch("--dry-run"));
        assert_eq!(parsed.value("--absent"), None);
    }

    #[test]
    fn errors_name_the_flag() {
        assert!(matches!(
            parse(&words("--partitions"), SPEC),
            Err(CliError::MissingValue {
                flag: "--partitions"
            })
        ));
        assert!(matches!(
            parse(&words("--partiton 3"), SPEC),
            Err(CliError::UnknownFlag { .. })
        ));
        assert!(matches!(
            parse(&words("--dry-run=yes"), SPEC),
            Err(CliError::UnexpectedValue { flag: "--dry-run" })
        ));
        let parsed = parse(&words("--partitions x"), SPEC).unwrap();
        assert!(matches!(
            parsed.number::<i32>("--partitions"),
            Err(CliError::BadValue { .. })
        ));
    }
}
