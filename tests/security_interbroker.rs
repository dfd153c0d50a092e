//! Secured inter-broker traffic (issue 19): a 3-broker cluster whose only client and
//! inter-broker listener is SASL_SSL (the metadata quorum keeps its own controller listener),
//! with the authorizer on and deny-by-default. Followers dial the leaders over TLS (trusting
//! the test CA) and log in with SCRAM-SHA-512 as `User:broker`, a super user, so an RF 3
//! topic takes acks=all records from librdkafka over SASL_SSL, every follower catches up and
//! the three logs are byte-identical. A client that is not a super user and lacks
//! CLUSTER_ACTION (`User:alice`, who may READ the topic) reads as a consumer but cannot fetch
//! as a follower (CVE-2018-1288).
mod common;

use common::cluster::{Timeouts, member_options};
use common::tls::{Ca, Files, consume_and_check, path_text, produce, sasl_ssl_client};
use common::{Broker, eventually, free_address};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use ringbroker::config::{InterBrokerConfig, InterBrokerSasl, InterBrokerTls, SecurityProtocol};
use ringbroker::protocol::exchange::{decode_response, encode_request};
use ringbroker::protocol::messages::create_acls::{
    AclCreation, CreateAclsRequest, CreateAclsResponse,
};
use ringbroker::protocol::messages::fetch::{FetchRequest, FetchResponse};
use ringbroker::protocol::{ErrorCode, Message};
use ringbroker::security::dial::InterBrokerDial;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOPIC: &str = "replicated";
const RECORDS: usize = 300;

/// The cluster, and the CA file clients trust in the temp dir holding the PEM files.
struct Secured {
    brokers: Vec<Broker>,
    ca: PathBuf,
    files: Files,
}

/// `ringbroker user add` of each `(name, password)` into `data_dir` (before the first start).
fn add_users(data_dir: &Path, users: &[(&str, &str)]) {
    for (name, password) in users {
        common::add_scram_user(data_dir, name, password);
    }
}

/// Three voters, each with one SASL_SSL listener (the harness's address) that is also the
/// inter-broker listener.
fn start_secured() -> Secured {
    let ca = Ca::new("cluster CA");
    let files = Files::new();
    let ca_path = files.write("ca.pem", &ca.pem);
    let password_file = files.write("broker.password", "broker-secret\n");
    let server_args = files.server_args(&ca);
    let voters: Vec<String> = (1..=3)
        .map(|id| format!("{id}@{}", free_address()))
        .collect();
    let voters = voters.join(",");
    let mut brokers = Vec::new();
    for id in 1..=3 {
        let mut broker = Broker::unstarted(member_options(id, &voters, Timeouts::Scaled));
        let users = [
            ("broker", "broker-secret"),
            ("admin", "admin-secret"),
            ("alice", "alice-secret"),
        ];
        add_users(&broker.data_dir(), &users);
        let listen = format!("SASL_SSL://{}", broker.address);
        let args = broker.extra_args_mut();
        args.extend(server_args.iter().cloned());
        for (flag, value) in [
            ("--listen", listen.as_str()),
            ("--sasl-mechanisms", "SCRAM-SHA-512"),
            ("--super-users", "User:broker;User:admin"),
            ("--inter-broker-listener", "SASL_SSL"),
            ("--inter-broker-tls-ca", &path_text(&ca_path)),
            ("--inter-broker-sasl-user", "broker"),
            (
                "--inter-broker-sasl-password-file",
                &path_text(&password_file),
            ),
        ] {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
        args.push("--authorizer".to_owned());
        broker.spawn_again();
        brokers.push(broker);
    }
    Secured {
        brokers,
        ca: ca_path,
        files,
    }
}

impl Secured {
    /// librdkafka settings of the super user `admin` bootstrapped at broker `index`.
    fn admin_config(&self, index: usize) -> rdkafka::ClientConfig {
        let address = self.brokers[index].address;
        sasl_ssl_client(
            address,
            &self.ca,
            "SCRAM-SHA-512",
            ("admin", "admin-secret"),
        )
    }

    fn logs(&self) -> String {
        let logs: Vec<String> = self.brokers.iter().map(Broker::log).collect();
        logs.join("\n=====\n")
    }

    /// Whether every broker lists all three.
    fn whole(&self) -> bool {
        (0..3).all(|index| {
            let Ok(consumer) = self.admin_config(index).create::<BaseConsumer>() else {
                return false;
            };
            consumer
                .fetch_metadata(None, Duration::from_secs(3))
                .is_ok_and(|metadata| metadata.brokers().len() == 3)
        })
    }

    /// The bytes of partition 0's segment files on broker `index`, in name order.
    fn log_bytes(&self, index: usize) -> Vec<u8> {
        let dir = self.brokers[index].data_dir().join(format!("{TOPIC}-0"));
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut logs: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
            .collect();
        logs.sort();
        logs.iter()
            .flat_map(|path| std::fs::read(path).unwrap_or_default())
            .collect()
    }

    /// Sends one request as `user` over TLS + SCRAM-SHA-512, with the broker's own dialer.
    fn call_as<Req: Message, Resp: Message>(
        &self,
        (user, password): (&str, &str),
        address: SocketAddr,
        (version, request): (i16, &Req),
    ) -> Resp {
        let password_file = self.files.write(&format!("{user}.password"), password);
        let config = InterBrokerConfig {
            listener: "SASL_SSL".to_owned(),
            protocol: SecurityProtocol::SaslSsl,
            tls: Some(InterBrokerTls {
                ca: self.ca.clone(),
                identity: None,
            }),
            sasl: Some(InterBrokerSasl {
                mechanism: "SCRAM-SHA-512".to_owned(),
                user: user.to_owned(),
                password: std::fs::read_to_string(password_file).unwrap().into(),
            }),
        };
        let dial = InterBrokerDial::load(&config).unwrap();
        let runtime = compio::runtime::Runtime::new().unwrap();
        let payload = runtime.block_on(async {
            let mut link = dial.dial(&address.to_string(), None).await.expect("dial");
            let mut frame = bytes::BytesMut::new();
            encode_request(&mut frame, version, 7, "test", request);
            link.write_all(frame.to_vec()).await.unwrap();
            let prefix = link.read_exact(4).await.unwrap();
            let size = i32::from_be_bytes(prefix.try_into().unwrap());
            link.read_exact(usize::try_from(size).unwrap())
                .await
                .unwrap()
        });
        decode_response(payload.into(), version, 7).unwrap()
    }

    /// The leader of partition 0 and the size of its ISR.
    fn leader_and_isr(&self) -> Option<(i32, usize)> {
        let consumer: BaseConsumer = self.admin_config(0).create().ok()?;
        let metadata = consumer
            .fetch_metadata(Some(TOPIC), Duration::from_secs(3))
            .ok()?;
        let partition = metadata.topics().first()?.partitions().first()?;
        (partition.leader() >= 0).then(|| (partition.leader(), partition.isr().len()))
    }
}

/// Fetch v12 of partition 0 from offset 0, as a consumer (`replica_id` -1) or a follower.
fn fetch(replica_id: i32) -> FetchRequest {
    common::fetch_partition_zero(TOPIC, replica_id)
}

fn create_topic(secured: &Secured) {
    let admin: AdminClient<DefaultClientContext> = secured.admin_config(0).create().unwrap();
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(3));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let results = common::block(admin.create_topics([&topic], &options)).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

/// READ on the topic for `User:alice` (Kafka's codes: TOPIC 2, LITERAL 3, READ 3, ALLOW 3).
fn read_grant() -> CreateAclsRequest {
    CreateAclsRequest {
        creations: vec![AclCreation {
            resource_type: 2,
            resource_name: TOPIC.into(),
            resource_pattern_type: 3,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 3,
            permission_type: 3,
        }],
    }
}

#[test]
fn followers_replicate_over_sasl_ssl_and_a_client_cannot_pose_as_one() {
    let secured = start_secured();
    let whole = eventually(Duration::from_secs(60), || secured.whole());
    assert!(
        whole,
        "the cluster never listed every broker:\n{}",
        secured.logs()
    );
    create_topic(&secured);
    let in_sync = eventually(Duration::from_secs(30), || {
        secured.leader_and_isr().is_some_and(|(_, isr)| isr == 3)
    });
    assert!(in_sync, "the ISR never filled:\n{}", secured.logs());
    let client = secured.admin_config(1);
    produce(&client, TOPIC, RECORDS);
    consume_and_check(&client, TOPIC, RECORDS);
    // Every follower catches up: the three logs hold the same bytes.
    let identical = eventually(Duration::from_secs(30), || {
        let leader = secured.log_bytes(0);
        !leader.is_empty() && (1..3).all(|index| secured.log_bytes(index) == leader)
    });
    assert!(identical, "replicas differ:\n{}", secured.logs());

    // Alice may read the topic as a consumer, but not fetch as a follower.
    let (leader, _) = secured.leader_and_isr().unwrap();
    let leader_address = secured.brokers[usize::try_from(leader - 1).unwrap()].address;
    let admin = ("admin", "admin-secret");
    let granted: CreateAclsResponse = secured.call_as(admin, leader_address, (3, &read_grant()));
    assert_eq!(granted.results[0].error_code, ErrorCode::None);
    let alice = ("alice", "alice-secret");
    let read = eventually(Duration::from_secs(10), || {
        let consumer: FetchResponse = secured.call_as(alice, leader_address, (12, &fetch(-1)));
        consumer.responses[0].partitions[0].error_code == ErrorCode::None
    });
    assert!(read, "alice cannot read:\n{}", secured.logs());
    let posing: FetchResponse = secured.call_as(alice, leader_address, (12, &fetch(2)));
    let partition = &posing.responses[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::TopicAuthorizationFailed);
    assert!(
        partition
            .records
            .as_ref()
            .is_none_or(|records| records.is_empty())
    );
    let audited = eventually(Duration::from_secs(10), || {
        let log = secured.logs();
        log.contains("User:alice") && log.contains("CLUSTER_ACTION")
    });
    assert!(audited, "no audit line:\n{}", secured.logs());
    // The same request as the brokers' own principal passes authorization and reaches the
    // replica's checks (which fence it: it carries no follower epoch).
    let broker = ("broker", "broker-secret");
    let follower: FetchResponse = secured.call_as(broker, leader_address, (12, &fetch(2)));
    let code = follower.responses[0].partitions[0].error_code;
    assert_ne!(code, ErrorCode::TopicAuthorizationFailed);
}
