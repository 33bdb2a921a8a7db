//! `<kind>_include` / `<kind>_exclude`: which entities a kind collects, by inventory path,
//! with Telegraf's syntax and meaning.
//!
//! A path is what Telegraf's finder walks: `/DC0/vm/Folder1/web01`,
//! `/DC0/host/Cluster1/esx1`, `/DC0/host/Cluster1/Resources/prod/web`,
//! `/DC0/datastore/ds1`, `/DC0` (see `vsphere::paths`). A pattern is split on `/` like the
//! finder splits it (whatever stands before the first `/` is ignored) and matched segment by
//! segment:
//! * a segment pattern matches one name with Go's `filepath.Match` ([`Wildcard::segment`]);
//! * a segment that is exactly `**` matches any number of segments, none included (the
//!   finder's recursive wildcard); as the **last** segment it matches one or more, because
//!   there the finder lists what lies *below* the container matched so far.
//!
//! An entity is collected when one of its paths matches an include pattern and none matches an
//! exclude pattern (the finder finds the union of the includes, then removes every entity an
//! exclude finds). A VM has several paths, as in Telegraf's README ("Multiple paths to VMs"):
//! its folder, its host and its resource pool.
//!
//! Where vcollect is broader than the finder: after `**` the finder takes the first segment
//! that matches the next pattern segment and never tries a later one
//! (`/DC0/vm/**/prod/*` misses `/DC0/vm/prod/x/prod/web` there), and it cannot step into nested
//! resource pools, vApps or datastore clusters except under a final `**`. vcollect matches the
//! path as a whole, so both find what the README says they find.

use super::wildcard::Wildcard;

/// One inventory path pattern.
#[derive(Clone, Debug)]
pub struct PathPattern {
    segments: Vec<Segment>,
}

#[derive(Clone, Debug)]
enum Segment {
    /// `**`
    Recursive,
    Name(Wildcard),
}

impl PathPattern {
    pub fn new(pattern: &str) -> PathPattern {
        let segments = pattern
            .split('/')
            .skip(1)
            .map(|s| match s {
                "**" => Segment::Recursive,
                s => Segment::Name(Wildcard::segment(s)),
            })
            .collect();
        PathPattern { segments }
    }

    /// Whether the inventory `path` (`/a/b/c`) matches.
    pub fn matches(&self, path: &str) -> bool {
        let names: Vec<&str> = path.split('/').skip(1).collect();
        match_from(&self.segments, &names)
    }
}

fn match_from(pattern: &[Segment], names: &[&str]) -> bool {
    match pattern.split_first() {
        None => names.is_empty(),
        Some((Segment::Recursive, [])) => !names.is_empty(),
        Some((Segment::Recursive, rest)) => {
            (0..=names.len()).any(|k| match_from(rest, &names[k..]))
        }
        Some((Segment::Name(w), rest)) => match names.split_first() {
            Some((name, more)) => w.matches(name) && match_from(rest, more),
            None => false,
        },
    }
}

/// A kind's include and exclude patterns.
#[derive(Clone, Debug, Default)]
pub struct PathFilter {
    include: Vec<PathPattern>,
    exclude: Vec<PathPattern>,
}

impl PathFilter {
    pub fn new<S: AsRef<str>>(include: &[S], exclude: &[S]) -> PathFilter {
        let compile = |v: &[S]| v.iter().map(|p| PathPattern::new(p.as_ref())).collect();
        PathFilter {
            include: compile(include),
            exclude: compile(exclude),
        }
    }

    /// Whether an entity with these paths is collected.
    pub fn admits<S: AsRef<str>>(&self, paths: &[S]) -> bool {
        let any = |patterns: &[PathPattern]| {
            patterns
                .iter()
                .any(|p| paths.iter().any(|path| p.matches(path.as_ref())))
        };
        any(&self.include) && !any(&self.exclude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        PathPattern::new(pattern).matches(path)
    }

    /// The examples of Telegraf's README, on its example inventory.
    #[test]
    fn the_readme_examples() {
        // "select e.g. VM2 with the path /DC0/vm/VM2"
        assert!(m("/DC0/vm/VM2", "/DC0/vm/VM2"));
        assert!(!m("/DC0/vm/VM2", "/DC0/vm/VM1"));
        // "all the VMs in a folder: /DC0/vm/Folder1/*" (not those of nested folders)
        assert!(m("/DC0/vm/Folder1/*", "/DC0/vm/Folder1/hadoop1"));
        assert!(!m("/DC0/vm/Folder1/*", "/DC0/vm/Folder1/NestedFolder1/VM3"));
        assert!(!m("/DC0/vm/Folder1/*", "/DC0/vm/VM1"));
        // "a partial name: /DC0/vm/Folder1/hadoop*"
        assert!(m("/DC0/vm/Folder1/hadoop*", "/DC0/vm/Folder1/hadoop1"));
        assert!(!m("/DC0/vm/Folder1/hadoop*", "/DC0/vm/Folder1/web1"));
        // "a VM with a name starting with hadoop in any folder: /DC0/vm/**/hadoop*"
        assert!(m("/DC0/vm/**/hadoop*", "/DC0/vm/hadoop0"));
        assert!(m("/DC0/vm/**/hadoop*", "/DC0/vm/Folder1/hadoop1"));
        assert!(m(
            "/DC0/vm/**/hadoop*",
            "/DC0/vm/Folder1/NestedFolder1/hadoop3"
        ));
        assert!(!m(
            "/DC0/vm/**/hadoop*",
            "/DC0/vm/Folder1/NestedFolder1/VM3"
        ));
        // "VMs on a specific host": /DC0/host/Cluster1/Host1/hadoop*, and "any host in Cluster1"
        assert!(m(
            "/DC0/host/Cluster1/Host1/hadoop*",
            "/DC0/host/Cluster1/Host1/hadoop1"
        ));
        assert!(m(
            "/DC0/host/Cluster1/*/hadoop*",
            "/DC0/host/Cluster1/Host9/hadoop1"
        ));
        // "Inventory paths and top-level folders": the defaults miss a datacenter in a folder,
        // the folder named explicitly or `/**/host/**` find it.
        assert!(!m("/*/host/**", "/F1/MyDatacenter/host/Cluster1/esx1"));
        assert!(m(
            "/F1/MyDatacenter/host/**",
            "/F1/MyDatacenter/host/Cluster1/esx1"
        ));
        assert!(m("/**/host/**", "/F1/MyDatacenter/host/Cluster1/esx1"));
        assert!(m("/**/host/**", "/DC0/host/Cluster1/esx1"));
    }

    /// The default include of every kind (keys.md / Telegraf's code defaults).
    #[test]
    fn the_defaults() {
        assert!(m("/*/vm/**", "/DC0/vm/VM1"));
        assert!(m("/*/vm/**", "/DC0/vm/a/b/c/VM1"));
        assert!(!m("/*/vm/**", "/DC0/vm"));
        assert!(!m("/*/vm/**", "/DC0/host/C0/H0/VM1"));
        assert!(m("/*/host/**", "/DC0/host/C0"));
        assert!(m("/*/host/**", "/DC0/host/C0/H0"));
        assert!(m("/*/host/**", "/DC0/host/C0/Resources/pool1/pool2"));
        assert!(m("/*/host/**", "/DC0/host/folder/standalone/standalone"));
        assert!(m("/*/datastore/**", "/DC0/datastore/ds1"));
        assert!(m("/*/datastore/**", "/DC0/datastore/pod/ds1"));
        assert!(!m("/*/datastore/**", "/DC0/vm/VM1"));
        assert!(m("/*", "/DC0"));
        assert!(!m("/*", "/F1/DC1"));
        assert!(m("/**", "/F1/DC1"));
    }

    #[test]
    fn recursion_and_edge_cases() {
        // `**` in the middle matches zero or more segments, and can be followed by more.
        assert!(m("/DC0/**/Resources/*", "/DC0/host/C0/Resources/prod"));
        assert!(!m(
            "/DC0/**/Resources/*",
            "/DC0/host/C0/Resources/prod/child"
        ));
        assert!(m(
            "/DC0/**/Resources/**",
            "/DC0/host/C0/Resources/prod/child"
        ));
        assert!(m("/*/host/*/Resources/**", "/DC0/host/C0/Resources/a/b"));
        assert!(m("/DC0/vm/**/prod/*", "/DC0/vm/prod/x/prod/web"));
        assert!(m("/**/web", "/DC0/vm/web"));
        // Whatever stands before the first `/` is ignored, as the finder does.
        assert!(m("DC9/DC0/vm/VM1", "/DC0/vm/VM1"));
        // A trailing slash asks for an empty name: nothing matches.
        assert!(!m("/DC0/vm/", "/DC0/vm/VM1"));
        assert!(!m("", "/DC0"));
        assert!(!m("/", "/DC0"));
        // Segments are whole names, not substrings.
        assert!(!m("/DC/vm/**", "/DC0/vm/VM1"));
        assert!(m("/DC?/vm/**", "/DC0/vm/VM1"));
    }

    #[test]
    fn include_then_exclude_over_every_path() {
        let f = PathFilter::new(
            &["/*/vm/**", "/DC0/host/C1/**"],
            &["/*/vm/Discovered virtual machine/*", "/*/host/*/esx3/*"],
        );
        assert!(f.admits(&["/DC0/vm/web"]));
        assert!(!f.admits(&["/DC0/vm/Discovered virtual machine/old"]));
        // Included by its host path although its folder is elsewhere...
        assert!(f.admits(&["/DC1/other/web", "/DC0/host/C1/esx1/web"]));
        // ...and excluded by its host path although its folder is included.
        assert!(!f.admits(&["/DC0/vm/web", "/DC0/host/C0/esx3/web"]));
        assert!(!f.admits::<&str>(&[]));
        assert!(!PathFilter::new::<&str>(&[], &[]).admits(&["/DC0/vm/web"]));
    }
}
