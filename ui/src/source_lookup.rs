//! Where a backtrace frame's function is defined, looked up off the UI
//! thread.
//!
//! A lookup walks the `--source` directories (up to 50,000 files: 0.3–0.8 s
//! over a tree of system headers, more over a kernel tree), so in the
//! terminal it runs on a thread of its own and answers through the app's
//! event channel; the Source pane says "looking up…" meanwhile. Only the
//! newest request matters: j/k over ten frames queues ten names, and the
//! thread skips to the last one. Replies carry a generation, and a reply for
//! a name no longer shown is dropped.
//!
//! [`Engine::Inline`] (the default, for tests) looks up on the caller's
//! thread, so results are there right after the key.

use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;

use scxray::source::{find_definition, find_location, SourceHit};

/// What to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A function's definition, by name (a backtrace frame).
    Name(String),
    /// A printed `file:line` (an auto-repro probe's location).
    At { file: String, line: usize },
}

impl Wanted {
    fn find(&self, roots: &[PathBuf]) -> Option<SourceHit> {
        match self {
            Wanted::Name(name) => find_definition(roots, name),
            Wanted::At { file, line } => find_location(roots, file, *line),
        }
    }
}

/// A finished lookup.
#[derive(Debug, Clone)]
pub struct SourceReply {
    gen: u64,
    hit: Option<SourceHit>,
}

/// What is known about the shown frame's source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SourceState {
    /// Nothing to look up: no frame, or no `--source` directory.
    #[default]
    Idle,
    /// The lookup thread is walking the directories.
    LookingUp,
    Found(SourceHit),
    NotFound,
}

enum Engine {
    Inline,
    /// Requests wait for [`SourceLookup::spawn`].
    Deferred,
    Thread(Sender<(u64, Wanted)>),
}

/// The lookups of one app.
pub struct SourceLookup {
    roots: Arc<[PathBuf]>,
    engine: Engine,
    /// What the state is about.
    name: Option<Wanted>,
    gen: u64,
    state: SourceState,
}

impl Default for SourceLookup {
    fn default() -> SourceLookup {
        SourceLookup {
            roots: Arc::from(Vec::new()),
            engine: Engine::Inline,
            name: None,
            gen: 0,
            state: SourceState::Idle,
        }
    }
}

impl SourceLookup {
    /// Directories searched; the next [`SourceLookup::want`] looks up again.
    pub fn set_roots(&mut self, roots: Vec<PathBuf>) {
        self.roots = roots.into();
        self.name = None;
        self.state = SourceState::Idle;
    }

    /// Holds lookups until [`SourceLookup::spawn`]: an app made before its
    /// event loop starts never walks a tree on the UI thread.
    pub fn defer(&mut self) {
        self.engine = Engine::Deferred;
    }

    /// Moves lookups to a thread that answers through `send` (false when
    /// the app is gone). The name being shown is looked up again there.
    pub fn spawn(
        &mut self,
        mut send: impl FnMut(SourceReply) -> bool + Send + 'static,
    ) -> std::io::Result<()> {
        let (tx, rx) = mpsc::channel::<(u64, Wanted)>();
        let roots = Arc::clone(&self.roots);
        thread::Builder::new()
            .name("scxray-source".into())
            .spawn(move || {
                while let Ok(mut job) = rx.recv() {
                    // Only the newest request is worth a walk.
                    while let Ok(newer) = rx.try_recv() {
                        job = newer;
                    }
                    let (gen, wanted) = job;
                    let hit = wanted.find(&roots);
                    if !send(SourceReply { gen, hit }) {
                        break;
                    }
                }
            })?;
        self.engine = Engine::Thread(tx);
        if let Some(name) = self.name.take() {
            self.want(Some(name));
        }
        Ok(())
    }

    /// Asks for `name`'s source unless it is the one already shown.
    pub fn want(&mut self, name: Option<Wanted>) {
        if name == self.name {
            return;
        }
        self.gen += 1;
        self.name = name;
        let Some(name) = self.name.clone().filter(|_| !self.roots.is_empty()) else {
            self.state = SourceState::Idle;
            return;
        };
        match &self.engine {
            Engine::Inline => {
                self.state = found(name.find(&self.roots));
            }
            Engine::Deferred => self.state = SourceState::LookingUp,
            Engine::Thread(tx) => {
                self.state = SourceState::LookingUp;
                if tx.send((self.gen, name)).is_err() {
                    // The thread is gone: say so rather than spin forever.
                    self.state = SourceState::NotFound;
                }
            }
        }
    }

    /// Takes a reply; true when it changed what is shown.
    pub fn on_reply(&mut self, reply: SourceReply) -> bool {
        if reply.gen != self.gen {
            return false;
        }
        self.state = found(reply.hit);
        true
    }

    pub fn state(&self) -> &SourceState {
        &self.state
    }

    pub fn hit(&self) -> Option<&SourceHit> {
        match &self.state {
            SourceState::Found(hit) => Some(hit),
            _ => None,
        }
    }
}

fn found(hit: Option<SourceHit>) -> SourceState {
    hit.map_or(SourceState::NotFound, SourceState::Found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("a.bpf.c"),
            "static int validate_cell(int x)\n{\n\treturn x;\n}\n",
        )
        .expect("write");
        dir
    }

    #[test]
    fn inline_lookups_answer_at_once_and_only_for_a_new_name() {
        let dir = tree();
        let mut l = SourceLookup::default();
        l.want(Some(Wanted::Name("validate_cell".into())));
        assert_eq!(*l.state(), SourceState::Idle, "no roots: nothing to walk");
        l.set_roots(vec![dir.path().to_path_buf()]);
        l.want(Some(Wanted::Name("validate_cell".into())));
        assert_eq!(l.hit().map(|h| h.line), Some(1));
        l.want(Some(Wanted::Name("missing_fn".into())));
        assert_eq!(*l.state(), SourceState::NotFound);
    }

    #[test]
    fn the_thread_answers_the_newest_name_and_stale_replies_are_dropped() {
        let dir = tree();
        let (tx, rx) = mpsc::channel();
        let mut l = SourceLookup::default();
        l.set_roots(vec![dir.path().to_path_buf()]);
        l.spawn(move |r| tx.send(r).is_ok()).expect("spawn");
        l.want(Some(Wanted::Name("missing_fn".into())));
        assert_eq!(*l.state(), SourceState::LookingUp);
        l.want(Some(Wanted::Name("validate_cell".into())));
        let wait = || rx.recv_timeout(Duration::from_secs(20)).expect("reply");
        let mut reply = wait();
        // The first name may have been taken before the second arrived.
        if !l.on_reply(reply) {
            reply = wait();
            assert!(l.on_reply(reply));
        }
        assert_eq!(l.hit().map(|h| h.line), Some(1));
    }
}
