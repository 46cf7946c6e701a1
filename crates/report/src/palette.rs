//! One colour per variant, the same in every figure and in the table.
//!
//! The first eight are Okabe and Ito's colour-blind-safe palette (its yellow darkened to read on
//! white, its black left out: black marks the true mode centres); further variants get hues
//! spaced by the golden angle.

use serde::Serialize;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`, for CSS.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

const OKABE_ITO: [Rgb; 8] = [
    Rgb(0x00, 0x72, 0xb2), // blue
    Rgb(0xd5, 0x5e, 0x00), // vermillion
    Rgb(0x00, 0x9e, 0x73), // bluish green
    Rgb(0xcc, 0x79, 0xa7), // reddish purple
    Rgb(0xe6, 0x9f, 0x00), // orange
    Rgb(0x56, 0xb4, 0xe9), // sky blue
    Rgb(0xb8, 0xa9, 0x00), // yellow, darkened
    Rgb(0x7f, 0x7f, 0x7f), // grey
];

/// The colour of the `i`-th variant.
pub fn colour(i: usize) -> Rgb {
    if let Some(c) = OKABE_ITO.get(i) {
        return *c;
    }
    // Golden-angle hues at a fixed saturation and lightness that read on white.
    let hue = ((i - OKABE_ITO.len()) as f64 * 137.507_764) % 360.0;
    hsl(hue, 0.65, 0.42)
}

fn hsl(h: f64, s: f64, l: f64) -> Rgb {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match h as u32 / 60 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    Rgb(to(r), to(g), to(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_distinct_and_readable_on_white() {
        let colours: Vec<Rgb> = (0..24).map(colour).collect();
        for (i, a) in colours.iter().enumerate() {
            for b in &colours[..i] {
                assert_ne!(a, b, "colour {i} repeats");
            }
            // Relative luminance below that of the page's white by a clear margin.
            let lum = 0.2126 * f64::from(a.0) + 0.7152 * f64::from(a.1) + 0.0722 * f64::from(a.2);
            assert!(lum < 200.0, "colour {i} {a:?} is too light");
        }
        assert_eq!(colour(0).hex(), "#0072b2");
        assert_eq!(hsl(0.0, 1.0, 0.5), Rgb(255, 0, 0));
        assert_eq!(hsl(240.0, 1.0, 0.5), Rgb(0, 0, 255));
    }
}
