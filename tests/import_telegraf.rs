//! `vcollect import-telegraf` end to end: the real binary converts Telegraf files (its own
//! vsphere sample.conf among them), and `vcollect validate` accepts what it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vcollect"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/telegraf")
        .join(name)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn import(file: &Path, secrets: &Path) -> Output {
    Command::new(bin())
        .arg("import-telegraf")
        .arg(file)
        .arg("--secrets-dir")
        .arg(secrets)
        .env_remove("VCOLLECT_CONFIG")
        .output()
        .expect("running vcollect import-telegraf")
}

/// Imports `file` into `dir/vcollect.toml` and returns what was printed.
fn import_ok(file: &Path, dir: &Path) -> String {
    let out = import(file, dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    std::fs::write(dir.join("vcollect.toml"), &printed).unwrap();
    printed
}

fn validate(dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .arg("validate")
        .arg("--config")
        .arg(dir.join("vcollect.toml"))
        .envs(env.iter().copied())
        .output()
        .expect("running vcollect validate")
}

fn assert_valid(dir: &Path, env: &[(&str, &str)], printed: &str) {
    let out = validate(dir, env);
    assert!(
        out.status.success(),
        "validate failed: {}\n---\n{printed}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("valid"), "{}", text(&out.stdout));
}

#[test]
fn telegrafs_own_sample_conf_imports_into_a_valid_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let printed = import_ok(&fixture("sample.conf"), dir.path());
    assert!(
        printed.contains("url = \"https://vcenter.local/sdk\""),
        "{printed}"
    );
    assert!(printed.contains("vm_metric_include = ["), "{printed}");
    assert!(
        !printed.contains("\"secret\""),
        "the password was printed:\n{printed}"
    );
    // The literal password goes to a file the admin fills.
    let pw = dir.path().join("vcenter.local.password");
    assert!(printed.contains(&format!("password_file = \"{}\"", pw.display())));
    std::fs::write(&pw, "secret\n").unwrap();
    assert_valid(dir.path(), &[], &printed);
}

#[test]
fn several_vcenters_a_v1_output_and_every_kind_of_secret_validate() {
    let dir = tempfile::tempdir().unwrap();
    // The fixture's tls_ca must exist for validate: point it into the test's directory.
    let ca = dir.path().join("vc3-ca.pem");
    std::fs::write(&ca, "").unwrap();
    let conf = std::fs::read_to_string(fixture("several.conf"))
        .unwrap()
        .replace("/etc/telegraf/vc3-ca.pem", &ca.display().to_string());
    let telegraf = dir.path().join("telegraf.conf");
    std::fs::write(&telegraf, conf).unwrap();

    let printed = import_ok(&telegraf, dir.path());
    for secret in ["literal-vc3-password", "literal-influx-password"] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    for needle in [
        "url = \"https://vc1.example.com/sdk\"",
        "url = \"https://vc2.example.com:8443/sdk\"",
        "url = \"https://vc3.example.com/sdk\"",
        "password_env = \"VC_PASSWORD\"",
        "Also listed in [[inputs.vsphere]] #2",
        "`interval` differs between the [[inputs.vsphere]] blocks",
        "`collect_concurrency` differs",
        "switches cluster metrics off",
        "database = \"vsphere\"",
        "[[outputs.file]] #1",
        "[[inputs.cpu]] #1",
        "[global_tags] `site = \"paris\"`",
        "`vsan_metric_exclude` (and any other vsan_* key) not carried over",
    ] {
        assert!(printed.contains(needle), "{needle} missing:\n{printed}");
    }
    std::fs::write(dir.path().join("vc3.example.com.password"), "x\n").unwrap();
    std::fs::write(dir.path().join("influxdb.password"), "y\n").unwrap();
    assert_valid(dir.path(), &[("VC_PASSWORD", "z")], &printed);

    // Without the variable it references, validate names it.
    let out = validate(dir.path(), &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("VC_PASSWORD"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_v2_output_and_a_secret_store_password_validate() {
    let dir = tempfile::tempdir().unwrap();
    let printed = import_ok(&fixture("v2.conf"), dir.path());
    for needle in [
        "org = \"ops\"",
        "bucket = \"vsphere\"",
        "token_env = \"INFLUX_TOKEN\"",
        "secret store `vault` (key `vcsa_password`)",
        "urls: http://127.0.0.2:8086 not carried over",
        "[[secretstores.os]] #1",
    ] {
        assert!(printed.contains(needle), "{needle} missing:\n{printed}");
    }
    std::fs::write(dir.path().join("vcsa.lab.local.password"), "x\n").unwrap();
    assert_valid(dir.path(), &[("INFLUX_TOKEN", "t")], &printed);
}

#[test]
fn bad_files_fail_with_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("telegraf.conf");
    std::fs::write(
        &bad,
        "[[inputs.vsphere]]\nvcenters = [\"https://vc1/sdk\"\n",
    )
    .unwrap();
    let out = import(&bad, dir.path());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("line 2"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    std::fs::write(&bad, "[[inputs.cpu]]\n").unwrap();
    let out = import(&bad, dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no [[inputs.vsphere]]"),
        "{}",
        text(&out.stderr)
    );

    let out = import(&dir.path().join("missing.conf"), dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("missing.conf: cannot read it"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_config_directory_is_imported_with_its_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("telegraf.conf");
    std::fs::write(
        &main,
        "[agent]\n  interval = \"30s\"\n[[outputs.influxdb]]\n  urls = [\"http://influx:8086\"]\n  database = \"vsphere\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("telegraf.d")).unwrap();
    let vsphere = dir.path().join("telegraf.d/vsphere.conf");
    std::fs::write(
        &vsphere,
        "[[inputs.vsphere]]\n  vcenters = [\"https://vc1/sdk\"]\n  username = \"u\"\n  password = \"${VC1_PASSWORD}\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .arg("import-telegraf")
        .args([&main, &vsphere])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("interval = \"30s\"") && printed.contains("url = \"http://influx:8086\"")
    );
    assert!(printed.contains("vsphere.conf line 1"), "{printed}");
    std::fs::write(dir.path().join("vcollect.toml"), &printed).unwrap();
    assert_valid(dir.path(), &[("VC1_PASSWORD", "x")], &printed);
}
