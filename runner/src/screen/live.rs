//! A screen that redraws itself in place (`lab status --watch`), as rustlings' watch mode does:
//! the alternate screen, redrawn every few seconds and at once when the terminal is resized;
//! q, Esc or Ctrl-C ends it and gives the terminal back as it was.
use std::{
    io::Write,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use crossterm::{
    cursor,
    event::{self, Event, KeyCode, KeyEvent, KeyModifiers},
    terminal, QueueableCommand,
};

use super::Screen;
use crate::term::Style;

/// Redraw `frame` every `every` until the user quits. `frame` gets the screen to write for and
/// returns the text to show; the last line says how to quit.
pub fn run(every: Duration, mut frame: impl FnMut(Screen) -> Result<String>) -> Result<()> {
    let _restore = Raw::enter()?;
    let mut out = std::io::stdout();
    loop {
        let (cols, rows) = terminal::size().context("reading the terminal size")?;
        let screen = Screen {
            style: Style::stdout(),
            width: cols.max(1) as usize,
        };
        let text = frame(screen)?;
        let footer = screen.style.dim(&format!(
            "refreshes every {} s · q quits",
            every.as_secs_f64()
        ));
        draw(&mut out, &text, &footer, rows as usize)?;
        if quit_within(every)? {
            return Ok(());
        }
    }
}

/// The frame from the top left corner, each line cleared to its end, at most `rows` lines.
fn draw(out: &mut impl Write, text: &str, footer: &str, rows: usize) -> Result<()> {
    out.queue(cursor::MoveTo(0, 0))?;
    let body: Vec<&str> = text.lines().take(rows.saturating_sub(2)).collect();
    for line in body.iter().chain([&"", &footer]) {
        // Raw mode: a newline does not return the carriage.
        out.queue(terminal::Clear(terminal::ClearType::UntilNewLine))?;
        write!(out, "{line}")?;
        out.queue(cursor::MoveToNextLine(1))?;
    }
    out.queue(terminal::Clear(terminal::ClearType::FromCursorDown))?;
    out.flush()?;
    Ok(())
}

/// Wait up to `every` for a key: true when it asks to quit; a resize ends the wait (redraw).
fn quit_within(every: Duration) -> Result<bool> {
    let until = Instant::now() + every;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if !event::poll(left)? {
            break;
        }
        match event::read()? {
            Event::Key(KeyEvent {
                code, modifiers, ..
            }) => {
                let ctrl_c =
                    code == KeyCode::Char('c') && modifiers.contains(KeyModifiers::CONTROL);
                if ctrl_c || matches!(code, KeyCode::Char('q') | KeyCode::Esc) {
                    return Ok(true);
                }
            }
            Event::Resize(..) => return Ok(false),
            _ => {}
        }
    }
    Ok(false)
}

/// Raw mode on the alternate screen with the cursor hidden, undone when dropped (on an error
/// too), so the shell gets its screen back.
struct Raw;

impl Raw {
    fn enter() -> Result<Raw> {
        terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
        let mut out = std::io::stdout();
        out.queue(terminal::EnterAlternateScreen)?
            .queue(cursor::Hide)?
            .flush()?;
        Ok(Raw)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let mut out = std::io::stdout();
        let _ = out
            .queue(cursor::Show)
            .and_then(|o| o.queue(terminal::LeaveAlternateScreen))
            .and_then(|o| o.flush());
        let _ = terminal::disable_raw_mode();
    }
}
