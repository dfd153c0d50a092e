//! The admin CLI on a secured cluster (issue 19): a broker with deny-by-default ACLs
//! (`--authorizer`, no `allow.everyone.if.no.acl.found`) and a SASL_SSL listener, operated by
//! the super user `admin` through `--command-config` (librdkafka's property names). `topic
//! create/list`, `acl add/list/remove` and `quota alter/describe` succeed with the right
//! config, over SCRAM-SHA-512 and PLAIN; a wrong password is a clear authentication error and
//! a non-zero exit; no config at all is a clear error, at once (not a hang); a user who is not
//! a super user authenticates but is refused by the authorizer.
//!
//! Over mutual TLS (`--tls-client-ca`, `ssl.client.auth=required`), the command config's
//! `ssl.certificate.location` and `ssl.key.location` present a client certificate whose
//! subject is the principal: named in `--super-users`, it may create and list topics; the
//! same config without them is refused.
//!
//! The harness's own address stays a PLAINTEXT listener (its readiness probe speaks
//! plaintext); the commands go to the SASL_SSL listener. Certificates are generated per test.
mod common;

use common::tls::{Ca, ClientPki, Files, path_text};
use common::{Broker, BrokerOptions, free_address};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a failing command may take: far below the client's 30 s socket timeout, so a
/// command waiting on a silent broker fails this test.
const FAIL_FAST: Duration = Duration::from_secs(15);

struct Secured {
    broker: Broker,
    secured: SocketAddr,
    files: Files,
    ca: PathBuf,
}

/// A broker with the authorizer on (deny by default), `User:admin` a super user, users
/// `admin` and `alice`, and a SASL_SSL listener offering SCRAM-SHA-512 and PLAIN.
fn start_secured() -> Secured {
    let ca = Ca::new("admin CA");
    let files = Files::new();
    let ca_path = files.write("ca.pem", &ca.pem);
    let mut broker = Broker::unstarted(BrokerOptions::default());
    common::add_scram_user(&broker.data_dir(), "admin", "admin-secret");
    common::add_scram_user(&broker.data_dir(), "alice", "alice-secret");
    let secured = free_address();
    let server_args = files.server_args(&ca);
    let args = broker.extra_args_mut();
    args.extend(server_args);
    for (flag, value) in [
        ("--listen", format!("SASL_SSL://{secured}")),
        ("--sasl-mechanisms", "SCRAM-SHA-512,PLAIN".to_owned()),
        ("--super-users", "User:admin".to_owned()),
    ] {
        args.extend([flag.to_owned(), value]);
    }
    args.push("--authorizer".to_owned());
    broker.start_again();
    Secured {
        broker,
        secured,
        files,
        ca: ca_path,
    }
}

impl Secured {
    /// A command config file for `user` with `mechanism` over SASL_SSL.
    fn config(&self, name: &str, mechanism: &str, (user, password): (&str, &str)) -> String {
        let text = format!(
            "# the admin's client properties\nsecurity.protocol=SASL_SSL\n\
             ssl.ca.location={}\nsasl.mechanism={mechanism}\nsasl.username={user}\n\
             sasl.password={password}\n",
            path_text(&self.ca)
        );
        path_text(&self.files.write(name, &text))
    }

    fn bootstrap(&self) -> String {
        self.secured.to_string()
    }
}

/// Runs an admin command in-process with `--bootstrap` and `--command-config`; its report,
/// or the error as text.
fn run(words: &[&str], bootstrap: &str, config: &str) -> Result<String, String> {
    let mut args: Vec<String> = words.iter().map(ToString::to_string).collect();
    args.extend(["--bootstrap", bootstrap, "--command-config", config].map(str::to_owned));
    let mut out = Vec::new();
    match ringbroker::cli::run(&args, &mut out) {
        Ok(ringbroker::cli::Outcome::Success) => Ok(String::from_utf8(out).unwrap()),
        Ok(ringbroker::cli::Outcome::Problems) => Err(String::from_utf8(out).unwrap()),
        Err(error) => Err(error.to_string()),
    }
}

/// `topic create TOPIC` then `topic list`, which must name it.
fn create_and_list(topic: &str, bootstrap: &str, config: &str) {
    let created = run(&["topic", "create", topic], bootstrap, config).unwrap();
    assert!(created.contains(topic), "{created}");
    let listed = run(&["topic", "list"], bootstrap, config).unwrap();
    let row = format!("{topic} ");
    assert!(
        listed.lines().any(|line| line.starts_with(&row)),
        "{listed}"
    );
}

/// `ringbroker topic list` through the binary with `config`.
fn list_with_binary(bootstrap: &str, config: &str) -> Output {
    run_binary(&[
        "topic",
        "list",
        "--bootstrap",
        bootstrap,
        "--command-config",
        config,
    ])
}

/// Runs the `ringbroker` binary with `args`, bounded by `FAIL_FAST`.
fn run_binary(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringbroker");
    let started = Instant::now();
    // Bounded by FAIL_FAST.
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > FAIL_FAST {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringbroker {args:?} still running after {FAIL_FAST:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn the_super_user_runs_topic_acl_and_quota_commands_over_sasl_ssl() {
    let secured = start_secured();
    let b = secured.bootstrap();
    let scram = secured.config(
        "scram.properties",
        "SCRAM-SHA-512",
        ("admin", "admin-secret"),
    );
    create_and_list("secured-orders", &b, &scram);
    // describe connects to each partition's leader too, with the same security.
    let described = run(&["topic", "describe", "secured-orders"], &b, &scram).unwrap();
    assert!(described.contains("secured-orders"), "{described}");

    let acl = [
        "--principal",
        "User:alice",
        "--topic",
        "secured-orders",
        "--operation",
        "READ",
    ];
    let added = run(&[&["acl", "add"][..], &acl].concat(), &b, &scram).unwrap();
    assert!(added.starts_with("added: "), "{added}");
    let acls = run(&["acl", "list", "--principal", "User:alice"], &b, &scram).unwrap();
    assert!(
        acls.contains("secured-orders") && acls.contains("READ"),
        "{acls}"
    );
    let removed = run(&[&["acl", "remove"][..], &acl].concat(), &b, &scram).unwrap();
    assert!(removed.starts_with("removed 1 ACL(s)"), "{removed}");
    let left = run(&["acl", "list", "--principal", "User:alice"], &b, &scram).unwrap();
    assert!(!left.contains("secured-orders"), "{left}");

    // PLAIN over TLS works as well, for the quota commands.
    let plain = secured.config("plain.properties", "PLAIN", ("admin", "admin-secret"));
    let quota = ["--client-id", "batch", "--add", "request_percentage=40"];
    let altered = run(&[&["quota", "alter"][..], &quota].concat(), &b, &plain).unwrap();
    assert!(
        altered.starts_with("altered: quotas of client-id=batch"),
        "{altered}"
    );
    let quotas = run(&["quota", "describe", "--client-id", "batch"], &b, &plain).unwrap();
    assert!(
        quotas.contains("client-id=batch") && quotas.contains("request_percentage"),
        "{quotas}"
    );
}

#[test]
fn wrong_password_no_config_and_a_plain_user_fail_clearly() {
    let secured = start_secured();
    let b = secured.bootstrap();
    let wrong = secured.config("wrong.properties", "SCRAM-SHA-512", ("admin", "not-it"));
    let output = list_with_binary(&b, &wrong);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("authentication failed") && stderr.contains("SASL_AUTHENTICATION_FAILED"),
        "{stderr}"
    );
    assert!(stderr.contains("\"admin\""), "names the user: {stderr}");

    // No command config: plaintext bytes to a TLS listener, refused at once with a hint.
    let output = run_binary(&["topic", "list", "--bootstrap", &b]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("--command-config"), "{stderr}");

    // A typo in the config is named, before any connection.
    let typo = path_text(&secured.files.write(
        "typo.properties",
        "security.protocol=SASL_SSL\nsasl.usernme=admin\n",
    ));
    let error = run(&["topic", "list"], &b, &typo).unwrap_err();
    assert!(error.contains("unknown key \"sasl.usernme\""), "{error}");

    // alice authenticates but is no super user and holds no ACL: deny by default.
    let alice = secured.config(
        "alice.properties",
        "SCRAM-SHA-512",
        ("alice", "alice-secret"),
    );
    let refused = run(&["topic", "create", "alices"], &b, &alice).unwrap_err();
    assert!(refused.contains("AUTHORIZATION_FAILED"), "{refused}");
    let refused = run(&["acl", "list"], &b, &alice).unwrap_err();
    assert!(
        refused.contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{refused}"
    );
    drop(secured.broker);
}

#[test]
fn a_client_certificate_from_the_command_config_is_the_principal_under_mtls() {
    let pki = ClientPki::new("mTLS CA");
    let (files, (certificate, key)) = (&pki.files, &pki.identity);
    let mut broker = Broker::unstarted(BrokerOptions::default());
    let secured = free_address();
    let server_args = pki.server_args();
    let args = broker.extra_args_mut();
    args.extend(server_args);
    for (flag, value) in [
        ("--listen", format!("SSL://{secured}")),
        ("--super-users", "User:CN=alice,OU=eng".to_owned()),
    ] {
        args.extend([flag.to_owned(), value]);
    }
    args.push("--authorizer".to_owned());
    broker.start_again();
    let b = secured.to_string();
    let ssl = format!(
        "security.protocol=SSL\nssl.ca.location={}\n",
        path_text(&pki.ca_path)
    );
    let mutual = format!(
        "{ssl}ssl.certificate.location={}\nssl.key.location={}\n",
        path_text(certificate),
        path_text(key)
    );
    let mutual = path_text(&files.write("mtls.properties", &mutual));
    create_and_list("by-certificate", &b, &mutual);
    // The same listener without a client certificate: the handshake is refused.
    let server_only = path_text(&files.write("ssl.properties", &ssl));
    let output = list_with_binary(&b, &server_only);
    assert!(
        !output.status.success(),
        "listed without a client certificate: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    drop(broker);
}
