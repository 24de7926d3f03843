//! A stall's task, from the Summary to where the dump shows it: Enter on
//! the Summary focuses the stalled task's entry in the CPU states, or, when
//! the CPU states do not list it, searches the sched_ext dump for it.

use scxray::report::stall::stall_of;
use scxray::report::TaskRef;

use super::App;
use crate::find::FindMode;
use crate::panes::{cpu_states, Role};

impl App {
    /// The task the selected crash's stall message names (not the
    /// watchdog's kworker that reported it).
    pub(super) fn stalled_task(&self) -> Option<TaskRef> {
        let (_, crash) = self.ctx().crash?;
        stall_of(crash)?.task
    }

    /// Focuses the stalled task's entry: its CPU state, else its first
    /// mention in the dump from where the crash was found.
    pub(super) fn open_stalled_task(&mut self) {
        let Some(task) = self.stalled_task() else {
            self.status = Some("this crash names no stalled task".into());
            return;
        };
        if let Some(i) = self.role_index(Role::CpuStates) {
            let back = self.focus;
            self.focus_pane(i);
            let width = self.areas(self.screen).body.width;
            match cpu_states::task_line(&self.ctx(), &task, width) {
                Some((line, cpu)) => {
                    self.scroll[i] = 0;
                    self.show_row(line);
                    self.status = Some(format!(
                        "{task}: the stalled task, on CPU {cpu}'s runqueue in the dump"
                    ));
                    return;
                }
                None => {
                    self.focus_pane(back);
                }
            }
        }
        let dump = self.role_index(Role::SchedExtDump).or_else(|| {
            let section = self.ctx().crash?.1.origin.section;
            (0..self.panes.len()).find(|&i| self.panes[i].section() == Some(section))
        });
        let Some(i) = dump else {
            self.status = Some(format!(
                "{task} is in no CPU state and there is no dump to search"
            ));
            return;
        };
        let searched = self.panes[i].title(&self.ctx());
        self.focus_pane(i);
        let from = self.ctx().crash.map_or(0, |(_, c)| {
            if self.panes[i].section() == Some(c.origin.section) {
                c.origin.first_line
            } else {
                0
            }
        });
        let Some(t) = self.panes[i].text_mut() else {
            return;
        };
        let _ = t.set_search(&task.to_string(), FindMode::Text);
        let row = t.row_of_line(from);
        self.scroll[i] = row;
        self.text_jump(true);
        let found = self.status.take().unwrap_or_default();
        self.status = Some(format!(
            "{task} is not in the CPU states; searching the {searched}: {found}"
        ));
    }
}
