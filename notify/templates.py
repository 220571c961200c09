"""The jinja2 templates of what baosong sends: the built-in ones, overridable by name.

A file in `notify.templates_dir` with the name of a built-in template (e.g. `ack.txt.j2`)
replaces it; the others stay built-in. Every message has a `<name>.subject.j2`, a `<name>.txt.j2`
and a `<name>.html.j2`. HTML templates are autoescaped: names, subjects and figures come from
the mail units send. Undefined variables are errors, so a typo in an override fails when
rendered instead of leaving a blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
)

from store.config import ConfigError


class TemplateProblem(ConfigError):
    """A template could not be found or rendered: usually an override in notify.templates_dir."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _is_html(name: str | None) -> bool:
    return name is not None and name.endswith(".html.j2")


class Templates:
    """Renders a message's subject, plain text and HTML from one set of variables."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        loaders: list[BaseLoader] = [PackageLoader("notify", "templates")]
        if templates_dir is not None:
            if not templates_dir.is_dir():
                raise TemplateProblem(f"notify.templates_dir {templates_dir} 不是文件夹")
            loaders.insert(0, FileSystemLoader(templates_dir))
        self.environment = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=_is_html,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        # Compile the overrides now, so a broken one fails at start-up, not at send time; the
        # built-in ones are known good and compile when first used.
        overrides = loaders[0].list_templates() if templates_dir is not None else []
        for name in overrides:
            if name.endswith(".j2"):
                try:
                    self.environment.get_template(name)
                except TemplateError as exc:
                    raise TemplateProblem(f"邮件模板 {name} 有误：{exc}") from exc

    def render(self, name: str, **variables: Any) -> Rendered:
        try:
            subject, text, html = (
                self.environment.get_template(f"{name}.{part}.j2").render(**variables)
                for part in ("subject", "txt", "html")
            )
        except TemplateError as exc:
            raise TemplateProblem(f"邮件模板 {name} 无法生成：{exc}；请检查 templates_dir 中的模板") from exc
        return Rendered(subject=" ".join(subject.split()), text=text, html=html)
