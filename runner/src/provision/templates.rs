//! The minijinja templates in provision/templates/, embedded so the installed `lab` needs no
//! data files. Two escaping filters: `yaml` (a JSON string, which is valid YAML) and `shell`
//! (single-quoted), so no value can break out of the document it is put into.
use minijinja::{Environment, UndefinedBehavior};

const TEMPLATES: &[(&str, &str)] = &[
    (
        "user-data.yaml",
        include_str!("../../../provision/templates/user-data.yaml.j2"),
    ),
    (
        "meta-data.yaml",
        include_str!("../../../provision/templates/meta-data.yaml.j2"),
    ),
    (
        "setup.sh",
        include_str!("../../../provision/templates/setup.sh.j2"),
    ),
    (
        "sshd-lab.conf",
        include_str!("../../../provision/templates/sshd-lab.conf.j2"),
    ),
    // libvirt domain XML: every value goes through the `xml` filter.
    (
        "domain.xml",
        include_str!("../../../provision/templates/domain.xml.j2"),
    ),
    // .html: minijinja escapes every value for HTML.
    (
        "cards.html",
        include_str!("../../../provision/templates/cards.html.j2"),
    ),
];

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Only the .html templates are escaped for HTML; the XML one uses its `xml` filter
    // (minijinja would otherwise HTML-escape .xml too, '/' included).
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.add_filter("yaml", |s: String| {
        serde_json::to_string(&s).expect("a string serializes")
    });
    env.add_filter("shell", |s: String| shell_quote(&s));
    env.add_filter("xml", |s: String| xml_escape(&s));
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("embedded templates parse (checked by tests)");
    }
    env
}

/// Render one embedded template.
pub fn render<S: serde::Serialize>(name: &str, ctx: S) -> anyhow::Result<String> {
    let env = environment();
    let tmpl = env.get_template(name)?;
    tmpl.render(ctx)
        .map_err(|e| anyhow::anyhow!("rendering template {name}: {e:#}"))
}

/// Text for an XML element or a quoted attribute.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let env = environment();
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap();
        }
    }

    #[test]
    fn shell_quoting_survives_the_shell() {
        let nasty = r#"a'b"c$HOME`x`\n;$(rm -rf /)"#;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(nasty)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), nasty);
    }
}
