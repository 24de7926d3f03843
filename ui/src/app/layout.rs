//! Where each part of the screen goes, as pure functions of the screen size
//! and what is shown: the title, answer lines, tab bar, the focused pane (and
//! a companion beside it on wide screens) and the status bar. Shrinks from
//! the answer lines first and never panics on a tiny screen.

use ratatui::layout::Rect;
use ratatui::widgets::Block;

use super::App;
use crate::panes::{summary, Role};

/// Rows the main pane keeps (border included) before header lines are dropped.
const MIN_MAIN_HEIGHT: u16 = 5;
/// Below this size the answer lines shrink to the verdict line.
const COMPACT: (u16, u16) = (80, 24);
/// Below this size only the focused pane is shown, with a one-line tab
/// indicator instead of the title, answer and tab bars.
const SINGLE: (u16, u16) = (40, 12);
/// From this size on a companion pane sits beside the focused one: the
/// backtrace next to a log, the source next to the backtrace.
const WIDE: (u16, u16) = (160, 40);
/// The timeline gets a companion only from this width on.
const WIDE_TIMELINE: u16 = 220;

/// The companion pane on a wide screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Side {
    /// Its index in the pane list.
    pub pane: usize,
    /// Its bordered area.
    pub area: Rect,
    /// Inside the border: where it draws.
    pub body: Rect,
}

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Areas {
    pub title: Rect,
    pub answer: Rect,
    pub tabs: Rect,
    pub main: Rect,
    /// `main` inside its border: where the focused pane draws.
    pub body: Rect,
    pub side: Option<Side>,
    pub status: Rect,
    /// Tiny screen: `tabs` is a one-line indicator of the focused pane.
    pub single: bool,
}

/// What the split depends on besides the screen size.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Shown {
    /// Answer lines wanted above the tabs.
    pub answers: usize,
    pub zoom: bool,
    /// The companion pane, when the screen is wide enough for one.
    pub companion: Option<usize>,
}

impl Areas {
    pub(super) fn split(area: Rect, shown: Shown) -> Areas {
        let single = area.width < SINGLE.0 || area.height < SINGLE.1;
        let compact = area.width < COMPACT.0 || area.height < COMPACT.1;
        let answers = if compact {
            shown.answers.min(1)
        } else {
            shown.answers
        };
        let mut rest = area.height;
        let status = rest.min(1);
        rest -= status;
        let (title, tabs, answer);
        if shown.zoom || single {
            title = 0;
            tabs = u16::from(single && !shown.zoom && rest >= 2);
            answer = 0;
        } else {
            title = rest.min(1);
            tabs = u16::from(rest - title >= 2);
            answer = u16::try_from(answers)
                .unwrap_or(u16::MAX)
                .min((rest - title - tabs).saturating_sub(MIN_MAIN_HEIGHT));
        }
        rest -= title + tabs + answer;
        let main = rest;

        let mut y = area.y;
        let mut take = |h: u16| {
            let r = Rect::new(area.x, y, area.width, h);
            y += h;
            r
        };
        let (title, answer, tabs, mut main, status) = (
            take(title),
            take(answer),
            take(tabs),
            take(main),
            take(status),
        );
        let side = shown.companion.map(|pane| {
            let width = (main.width * 2 / 5).clamp(60, 110);
            main.width -= width;
            let area = Rect::new(main.right(), main.y, width, main.height);
            Side {
                pane,
                area,
                body: Block::bordered().inner(area),
            }
        });
        Areas {
            title,
            answer,
            tabs,
            main,
            body: Block::bordered().inner(main),
            side,
            status,
            single: single && !shown.zoom,
        }
    }
}

/// Whether a screen this size has room for a companion pane beside the
/// focused pane with `role`.
pub(super) fn companion_fits(area: Rect, role: Option<Role>) -> bool {
    let min_width = match role {
        // The timeline puts the monitor beside itself; it needs the room.
        Some(Role::Timeline) => WIDE_TIMELINE,
        _ => WIDE.0,
    };
    area.width >= min_width && area.height >= WIDE.1
}

/// One tab drawn in the bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TabSpan {
    pub pane: usize,
    /// First column.
    pub x0: u16,
    /// Column past the end; `x0 == x1` draws only the overflow mark.
    pub x1: u16,
}

/// The tabs drawn in the bar for labels `widths` columns wide. When they
/// overflow, the bar starts late enough to show the focused one; the last
/// one drawn may be cut.
pub(super) fn tab_layout(widths: &[usize], focus: usize, area: Rect) -> Vec<TabSpan> {
    let avail = usize::from(area.width);
    let focus = focus.min(widths.len().saturating_sub(1));
    let mut start = 0;
    while start < focus
        && usize::from(start > 0) + widths[start..=focus].iter().sum::<usize>() > avail
    {
        start += 1;
    }
    let right = area.right();
    let mut x = area.x + u16::from(start > 0);
    let mut out = Vec::new();
    for (pane, &w) in widths.iter().enumerate().skip(start) {
        if x >= right {
            // No room left: an empty entry draws the overflow mark.
            out.push(TabSpan {
                pane,
                x0: right - 1,
                x1: right - 1,
            });
            break;
        }
        let room = usize::from(right - x);
        if w > room {
            out.push(TabSpan {
                pane,
                x0: x,
                x1: right - 1,
            });
            break;
        }
        let end = x + w as u16;
        out.push(TabSpan {
            pane,
            x0: x,
            x1: end,
        });
        x = end;
    }
    out
}

impl App {
    /// The screen split for the app as it is now.
    pub(super) fn areas(&self, area: Rect) -> Areas {
        // The workbench needs the rows for its corpus; the crash message is
        // in its corpus view and suggestion anyway.
        let answers = if self.focus == self.wb_pane {
            0
        } else {
            summary::answer_lines(&self.ctx()).len()
        };
        Areas::split(
            area,
            Shown {
                answers,
                zoom: self.zoom,
                companion: self.companion(area),
            },
        )
    }

    /// The pane shown beside the focused one on a wide screen, if any.
    fn companion(&self, area: Rect) -> Option<usize> {
        let role = self.pane_role(self.focus);
        if self.zoom || self.focus == self.wb_pane || !companion_fits(area, role) {
            return None;
        }
        let crash = self.crash.and_then(|i| self.report.crashes.get(i))?;
        if crash.backtrace.is_empty() {
            return None;
        }
        let want = match role {
            Some(Role::Backtrace) => Role::Source,
            _ => Role::Backtrace,
        };
        self.role_index(want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(widths: &[usize], focus: usize, width: u16) -> Vec<(usize, u16, u16)> {
        tab_layout(widths, focus, Rect::new(0, 0, width, 1))
            .into_iter()
            .map(|t| (t.pane, t.x0, t.x1))
            .collect()
    }

    #[test]
    fn tabs_that_fit_are_laid_side_by_side() {
        assert_eq!(
            spans(&[5, 6, 4], 0, 40),
            [(0, 0, 5), (1, 5, 11), (2, 11, 15)]
        );
    }

    #[test]
    fn an_overflowing_bar_starts_late_enough_to_show_the_focused_tab() {
        // 10 columns: tabs 0 and 1 do not fit with 2; the bar starts at 1,
        // one column in for the `‹` mark.
        assert_eq!(spans(&[5, 5, 4], 2, 10), [(1, 1, 6), (2, 6, 10)]);
        // The last tab is cut at the edge, leaving a column for `›`.
        assert_eq!(spans(&[5, 8], 0, 10), [(0, 0, 5), (1, 5, 9)]);
    }

    #[test]
    fn no_tabs_and_zero_width_never_panic() {
        assert!(spans(&[], 0, 10).is_empty());
        assert_eq!(spans(&[3], 0, 1), [(0, 0, 0)]);
    }

    #[test]
    fn a_tiny_screen_keeps_the_pane_and_a_tab_indicator() {
        let a = Areas::split(Rect::new(0, 0, 30, 10), Shown::default());
        assert!(a.single);
        assert_eq!((a.title.height, a.tabs.height, a.status.height), (0, 1, 1));
        assert_eq!(a.main.height, 8);
        let none = Areas::split(Rect::new(0, 0, 0, 0), Shown::default());
        assert_eq!(none.main, Rect::new(0, 0, 0, 0));
    }

    #[test]
    fn answer_lines_give_way_to_the_main_pane() {
        let shown = Shown {
            answers: 20,
            ..Shown::default()
        };
        let a = Areas::split(Rect::new(0, 0, 80, 24), shown);
        assert_eq!(a.main.height, MIN_MAIN_HEIGHT);
        let compact = Areas::split(Rect::new(0, 0, 70, 30), shown);
        assert_eq!(
            compact.answer.height, 1,
            "below 80x24: the verdict line only"
        );
    }

    #[test]
    fn a_companion_takes_two_fifths_of_the_width_within_bounds() {
        let shown = Shown {
            companion: Some(3),
            ..Shown::default()
        };
        let a = Areas::split(Rect::new(0, 0, 200, 50), shown);
        let side = a.side.expect("side");
        assert_eq!((side.pane, side.area.width, a.main.width), (3, 80, 120));
        assert!(companion_fits(
            Rect::new(0, 0, 160, 40),
            Some(Role::Backtrace)
        ));
        assert!(!companion_fits(
            Rect::new(0, 0, 200, 40),
            Some(Role::Timeline)
        ));
    }
}
