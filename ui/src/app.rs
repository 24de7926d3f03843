//! App state, the pure key handler and the screen layout.
//!
//! [`App`] holds what the user changed (focused pane, per-pane scroll, help
//! overlay, selected crash) and the screen size; [`handle_key`] turns a key
//! into an [`Action`] and applies it, with no I/O, so tests drive it directly.
//! Drawing goes through `impl Widget for &App` and cannot change state.

use crossterm::event::{KeyEvent, KeyEventKind};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};
use scxray::report::Report;

use crate::keymap::{Action, Key, Keymap, Mode};
use crate::panes::{self, help, render_lines, summary, Ctx, Pane};
use crate::theme::Theme;

/// Rows the main pane keeps (border included) before header lines are dropped.
const MIN_MAIN_HEIGHT: u16 = 5;

pub struct App {
    report: Report,
    source: String,
    panes: Vec<Box<dyn Pane>>,
    focus: usize,
    /// Top line per pane. May exceed the content after a resize; every use
    /// clamps it, so a later grow shows the same place again.
    scroll: Vec<usize>,
    crash: Option<usize>,
    help: bool,
    help_scroll: usize,
    /// Last known terminal size: page keys and scroll bounds depend on it.
    screen: Rect,
    theme: Theme,
    keymap: Keymap,
}

/// Where each part of the screen goes.
struct Areas {
    title: Rect,
    answer: Rect,
    tabs: Rect,
    main: Rect,
    /// `main` inside its border: where the focused pane draws.
    body: Rect,
    status: Rect,
}

impl App {
    /// Opens `report`, showing its selected crash (the newest when the parser
    /// chose none). `source` names the input in the title bar.
    pub fn new(report: Report, source: &str) -> App {
        let n = report.crashes.len();
        let crash = report.selected.filter(|&i| i < n).or(n.checked_sub(1));
        let panes = panes::build(&report);
        let mut app = App {
            scroll: vec![0; panes.len()],
            panes,
            report,
            source: source.to_string(),
            focus: 0,
            crash: None,
            help: false,
            help_scroll: 0,
            screen: Rect::default(),
            theme: Theme::from_env(),
            keymap: Keymap::default(),
        };
        app.select_crash(crash);
        app
    }

    pub fn with_theme(mut self, theme: Theme) -> App {
        self.theme = theme;
        self
    }

    /// Records the terminal size; call on start and on every resize event.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.screen = Rect::new(0, 0, width, height);
    }

    pub fn mode(&self) -> Mode {
        if self.help {
            Mode::Help
        } else {
            Mode::Normal
        }
    }

    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Tab labels, in tab order.
    pub fn pane_titles(&self) -> Vec<String> {
        let ctx = self.ctx();
        self.panes.iter().map(|p| p.title(&ctx)).collect()
    }

    pub fn focused(&self) -> usize {
        self.focus
    }

    /// Focuses pane `index` (0-based); false if there is none.
    pub fn focus_pane(&mut self, index: usize) -> bool {
        let ok = index < self.panes.len();
        if ok {
            self.focus = index;
        }
        ok
    }

    /// The focused pane's top line as shown: clamped to the content.
    pub fn scroll(&self) -> usize {
        let (pos, total, height) = self.pane_scroll_state();
        pos.min(total.saturating_sub(height))
    }

    pub fn help_visible(&self) -> bool {
        self.help
    }

    pub fn help_scroll(&self) -> usize {
        self.help_scroll
    }

    /// Index of the selected crash in `report().crashes`.
    pub fn crash_index(&self) -> Option<usize> {
        self.crash
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            report: &self.report,
            crash: self
                .crash
                .and_then(|i| self.report.crashes.get(i).map(|c| (i, c))),
            theme: &self.theme,
        }
    }

    /// Selects a crash: panes that show it start from the top, and the text
    /// pane holding it scrolls to where it was found.
    fn select_crash(&mut self, crash: Option<usize>) {
        self.crash = crash;
        for (pane, scroll) in self.panes.iter().zip(&mut self.scroll) {
            if pane.follows_crash() {
                *scroll = 0;
            }
        }
        let Some(origin) = crash
            .and_then(|i| self.report.crashes.get(i))
            .map(|c| &c.origin)
        else {
            return;
        };
        for (pane, scroll) in self.panes.iter().zip(&mut self.scroll) {
            if pane.section() == Some(origin.section) {
                *scroll = origin.first_line;
            }
        }
    }

    /// Whether an action can do anything now; the status bar hides the rest.
    fn available(&self, action: Action) -> bool {
        match action {
            Action::NextCrash => self.report.crashes.len() > 1,
            _ => true,
        }
    }

    fn apply(&mut self, action: Action) {
        let n = self.panes.len();
        match action {
            Action::Quit | Action::None => {}
            Action::NextPane => self.focus = (self.focus + 1) % n,
            Action::PrevPane => self.focus = (self.focus + n - 1) % n,
            Action::GoToPane(k) => {
                if k >= 1 {
                    self.focus_pane(k - 1);
                }
            }
            Action::ScrollDown
            | Action::ScrollUp
            | Action::PageDown
            | Action::PageUp
            | Action::Top
            | Action::Bottom => self.scroll_by(action),
            Action::NextCrash => {
                let count = self.report.crashes.len();
                if count > 1 {
                    let next = self.crash.map_or(0, |i| (i + 1) % count);
                    self.select_crash(Some(next));
                }
            }
            Action::OpenHelp => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::CloseHelp => self.help = false,
        }
    }

    /// (stored position, content lines, visible rows) of the focused pane.
    fn pane_scroll_state(&self) -> (usize, usize, usize) {
        let body = self.areas(self.screen).body;
        let total = self.panes[self.focus].line_count(&self.ctx(), body.width);
        (self.scroll[self.focus], total, usize::from(body.height))
    }

    fn scroll_by(&mut self, action: Action) {
        let (pos, total, height) = if self.help {
            let lines = help::lines(&self.keymap, &self.theme).len();
            (
                self.help_scroll,
                lines,
                help::visible_rows(self.screen, lines),
            )
        } else {
            self.pane_scroll_state()
        };
        let max = total.saturating_sub(height);
        let pos = pos.min(max);
        let page = height.max(1);
        let new = match action {
            Action::ScrollDown => pos + 1,
            Action::ScrollUp => pos.saturating_sub(1),
            Action::PageDown => pos + page,
            Action::PageUp => pos.saturating_sub(page),
            Action::Top => 0,
            _ => max,
        }
        .min(max);
        if self.help {
            self.help_scroll = new;
        } else {
            self.scroll[self.focus] = new;
        }
    }

    /// Splits the screen: title, answer lines, tabs, the focused pane and the
    /// status bar. Shrinks from the answer lines first and never panics on a
    /// tiny screen.
    fn areas(&self, area: Rect) -> Areas {
        let answers = summary::answer_lines(&self.ctx()).len();
        let mut rest = area.height;
        let status = rest.min(1);
        rest -= status;
        let title = rest.min(1);
        rest -= title;
        let tabs = u16::from(rest >= 2);
        rest -= tabs;
        let answer = u16::try_from(answers)
            .unwrap_or(u16::MAX)
            .min(rest.saturating_sub(MIN_MAIN_HEIGHT));
        let main = rest - answer;

        let mut y = area.y;
        let mut take = |h: u16| {
            let r = Rect::new(area.x, y, area.width, h);
            y += h;
            r
        };
        let (title, answer, tabs, main, status) = (
            take(title),
            take(answer),
            take(tabs),
            take(main),
            take(status),
        );
        Areas {
            title,
            answer,
            tabs,
            main,
            body: Block::bordered().inner(main),
            status,
        }
    }

    fn render_title(&self, ctx: &Ctx<'_>, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, self.theme.header);
        let (left, right) = summary::title_bar(ctx, &self.source);
        left.render(area, buf);
        if let Some(right) = right {
            right.right_aligned().render(area, buf);
        }
    }

    /// `[1 Summary]  2 Backtrace ...`: brackets mark focus without colour. When
    /// the labels overflow, the bar starts late enough to show the focused one.
    fn render_tabs(&self, ctx: &Ctx<'_>, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let labels: Vec<String> = self
            .panes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let num = if i < 9 {
                    format!("{} ", i + 1)
                } else {
                    String::new()
                };
                let title = p.title(ctx);
                if i == self.focus {
                    format!("[{num}{title}]")
                } else {
                    format!(" {num}{title} ")
                }
            })
            .collect();
        let widths: Vec<usize> = labels
            .iter()
            .map(|l| Line::raw(l.as_str()).width())
            .collect();
        let avail = usize::from(area.width);
        let mut start = 0;
        while start < self.focus
            && usize::from(start > 0) + widths[start..=self.focus].iter().sum::<usize>() > avail
        {
            start += 1;
        }
        let right = area.right();
        let mut x = area.x;
        if start > 0 {
            buf.set_string(x, area.y, "‹", self.theme.dim);
            x += 1;
        }
        for (i, label) in labels.iter().enumerate().skip(start) {
            let style = if i == self.focus {
                self.theme.selected
            } else {
                Style::new()
            };
            let room = usize::from(right.saturating_sub(x));
            if widths[i] > room {
                buf.set_stringn(x, area.y, label, room, style);
                buf.set_string(right - 1, area.y, "›", self.theme.dim);
                break;
            }
            x = buf.set_stringn(x, area.y, label, room, style).0;
        }
    }

    fn render_main(&self, ctx: &Ctx<'_>, areas: &Areas, buf: &mut Buffer) {
        let pane = &self.panes[self.focus];
        let body = areas.body;
        let total = pane.line_count(ctx, body.width);
        let height = usize::from(body.height);
        let top = self.scroll[self.focus].min(total.saturating_sub(height));
        let mut block = Block::bordered()
            .border_style(self.theme.focused_border)
            .title(Line::styled(
                format!(" {} ", pane.title(ctx)),
                self.theme.label,
            ));
        if total > 0 && height > 0 {
            let last = (top + height).min(total);
            block =
                block.title(Line::raw(format!(" {}-{last} of {total} ", top + 1)).right_aligned());
        }
        block.render(areas.main, buf);
        pane.render(ctx, body, top, buf);
    }

    fn render_status(&self, area: Rect, buf: &mut Buffer) {
        let mut spans = vec![Span::raw(" ")];
        for (keys, label) in self.keymap.bar_hints(self.mode(), |a| self.available(a)) {
            spans.push(Span::styled(keys, self.theme.key));
            spans.push(Span::styled(format!(" {label}  "), self.theme.dim));
        }
        Line::from(spans).render(area, buf);
    }
}

/// Applies `key` to the app and returns what it meant. Key releases (sent by
/// some terminals) and unbound keys give [`Action::None`] and change nothing.
pub fn handle_key(app: &mut App, key: KeyEvent) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    let action = app.keymap.action(app.mode(), Key::from_event(&key));
    app.apply(action);
    action
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx();
        let areas = self.areas(area);
        self.render_title(&ctx, areas.title, buf);
        render_lines(summary::answer_lines(&ctx), areas.answer, 0, buf);
        self.render_tabs(&ctx, areas.tabs, buf);
        self.render_main(&ctx, &areas, buf);
        self.render_status(areas.status, buf);
        if self.help {
            help::render(&self.keymap, &self.theme, self.help_scroll, area, buf);
        }
    }
}
