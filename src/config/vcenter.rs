//! The `[[vcenter]]` sections: where each vCenter is, how to log in and whom to trust.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ranges, Check, ConfigError};
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct VcenterConfig {
    /// The `vcenter` tag; unique. Defaults to the URL's host (with its port, if written),
    /// as Telegraf writes it.
    pub name: String,
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub ca_file: Option<PathBuf>,
    /// Pins the vCenter's certificate by fingerprint (SHA-256 or SHA-1, `AB:CD:…`).
    pub tls_thumbprint: Option<String>,
    pub insecure: bool,
    /// Per SOAP call.
    pub timeout: Duration,
    /// `max_concurrent_queries`: the performance calls (QueryPerf,
    /// QueryAvailablePerfMetric) the whole cluster may have in flight at this vCenter at
    /// once, divided among the nodes (see `collect::Assignment::query_share`).
    pub max_concurrent_queries: usize,
}

impl VcenterConfig {
    /// How the vSphere client reaches and logs in to this vCenter (SOAP, and REST for
    /// vSphere tags): the component built from its configuration, not copied field by field
    /// where it is used.
    pub fn client_options(&self) -> crate::vsphere::ClientOptions {
        crate::vsphere::ClientOptions {
            name: self.name.clone(),
            url: self.url.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            ca_file: self.ca_file.clone(),
            tls_thumbprint: self.tls_thumbprint.clone(),
            insecure: self.insecure,
            timeout: self.timeout,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVcenter {
    name: Option<String>,
    url: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    ca_file: Option<PathBuf>,
    tls_thumbprint: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    max_concurrent_queries: Option<usize>,
}

/// The default `max_concurrent_queries`: what one Telegraf instance asks of a vCenter at
/// most (its README caps `collect_concurrency` at 8 however large the inventory), so a
/// cluster of any size loads vCenter no more than the collector vCenter admins already run.
/// One node keeps its `collect.concurrency` (4) below it.
pub const DEFAULT_MAX_CONCURRENT_QUERIES: usize = 8;

impl Check<'_> {
    /// Every `[[vcenter]]`: at least one, names unique.
    pub(super) fn vcenters(&self, raw: Vec<RawVcenter>) -> Result<Vec<VcenterConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err("vcenter", "at least one [[vcenter]] is required"));
        }
        let mut vcenters = Vec::with_capacity(raw.len());
        for (i, rv) in raw.into_iter().enumerate() {
            let vc = self.vcenter(i, rv, &vcenters)?;
            vcenters.push(vc);
        }
        Ok(vcenters)
    }

    /// The `i`th `[[vcenter]]`; `taken`: the ones before it, whose names it must not reuse.
    fn vcenter(
        &self,
        i: usize,
        rv: RawVcenter,
        taken: &[VcenterConfig],
    ) -> Result<VcenterConfig, ConfigError> {
        let k = |f: &str| format!("vcenter[{i}].{f}");
        let url = self.required(&k("url"), rv.url)?;
        self.url(&k("url"), &url)?;
        // Without a name, the tag is the URL's host (and port) as Telegraf writes it, so
        // a Telegraf user's series continue.
        let name = match rv.name {
            Some(n) => n,
            None => url_host(&url).ok_or_else(|| self.err(k("url"), "has no host"))?,
        };
        if name.trim().is_empty() {
            return Err(self.err(k("name"), "is empty"));
        }
        if taken.iter().any(|v| v.name == name) {
            return Err(self.err(
                k("name"),
                format!("{name:?} is used by another [[vcenter]] (set `name` to tell them apart)"),
            ));
        }
        let username = self.required(&k("username"), rv.username)?;
        let password = self
            .secret(
                &k("password"),
                rv.password_file.as_deref(),
                rv.password_env.as_deref(),
            )?
            .ok_or_else(|| {
                self.err(
                    k("password_file"),
                    "password_file or password_env is required",
                )
            })?;
        if let Some(ca) = &rv.ca_file {
            if let Err(e) = std::fs::metadata(ca) {
                return Err(self.err(k("ca_file"), format!("cannot read {}: {e}", ca.display())));
            }
        }
        self.thumbprint(
            &k("tls_thumbprint"),
            &rv.tls_thumbprint,
            rv.insecure || rv.ca_file.is_some(),
        )?;
        Ok(VcenterConfig {
            name,
            url,
            username,
            password,
            ca_file: rv.ca_file,
            tls_thumbprint: rv.tls_thumbprint,
            insecure: rv.insecure,
            timeout: self.duration_in(
                &k("timeout"),
                rv.timeout,
                Duration::from_secs(60),
                ranges::CALL_TIMEOUT,
            )?,
            max_concurrent_queries: self.number_in(
                &k("max_concurrent_queries"),
                rv.max_concurrent_queries,
                DEFAULT_MAX_CONCURRENT_QUERIES,
                ranges::CONCURRENT_QUERIES,
            )?,
        })
    }

    /// `tls_thumbprint` is a fingerprint and pins the certificate by itself.
    fn thumbprint(
        &self,
        key: &str,
        thumbprint: &Option<String>,
        other_trust: bool,
    ) -> Result<(), ConfigError> {
        let Some(t) = thumbprint else {
            return Ok(());
        };
        if let Err(e) = crate::vsphere::Thumbprint::parse(t) {
            return Err(self.err(key, e));
        }
        if other_trust {
            return Err(self.err(
                key,
                "pins the certificate by itself: leave out ca_file and insecure",
            ));
        }
        Ok(())
    }
}

/// The host of a URL with its port if one is written, byte for byte as Go's `url.URL.Host`
/// gives it (Telegraf's `vcenter` tag): `https://VC1.example.com:443/sdk` →
/// `VC1.example.com:443`, `https://u@[::1]/sdk` → `[::1]`. Not normalised (no lower-casing,
/// no dropping of a default port), unlike a parsed URL.
pub fn url_host(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_string())
}
