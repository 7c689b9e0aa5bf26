"""The Templates port: Jinja2's SandboxedEnvironment with StrictUndefined.

A template reads only the variables it is given (`person.first_name`, `company.name`, ...):
no attribute of a Python object, no unknown name. An unknown variable, or a known one
without a value and no `default`, is a TemplateError naming it; so is a syntax error (with
its line). HTML bodies escape what the variables insert."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from application.ports import TemplateError

MAX_TEMPLATE_CHARS = 100_000


class _Namespace:
    """One group of variables (`person`), which knows its name for the error messages."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self.name = name
        self.values = dict(values)


class _Environment(SandboxedEnvironment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Undefined):  # `deal.value` with no `deal`: the error names `deal`
            return obj
        if isinstance(obj, _Namespace):
            return self._lookup(obj, attribute)
        return self.undefined(hint=f"unknown variable {attribute!r}")

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            return obj
        if isinstance(obj, _Namespace) and isinstance(argument, str):
            return self._lookup(obj, argument)
        return self.undefined(hint=f"unknown variable {argument!r}")

    def _lookup(self, namespace: _Namespace, name: str) -> Any:
        path = f"{namespace.name}.{name}"
        if name not in namespace.values:
            return self.undefined(hint=f"unknown variable {path}", name=path)
        value = namespace.values[name]
        if value is None:
            return self.undefined(hint=f"{path} has no value here (give it a default)", name=path)
        return value


class JinjaTemplates:
    def __init__(self) -> None:
        self.text = _Environment(undefined=StrictUndefined, autoescape=False)
        self.html = _Environment(undefined=StrictUndefined, autoescape=True)

    def render(self, template: str, variables: Mapping[str, Any], field: str) -> str:
        if len(template) > MAX_TEMPLATE_CHARS:
            raise TemplateError(f"{field}: at most {MAX_TEMPLATE_CHARS} characters")
        environment = self.html if field == "html" else self.text
        names = {k: _Namespace(k, v) if isinstance(v, Mapping) else v for k, v in variables.items()}
        try:
            return environment.from_string(template).render(names)
        except TemplateSyntaxError as error:
            raise TemplateError(f"{field}: template error on line {error.lineno}: {error.message}") from None
        except UndefinedError as error:
            raise TemplateError(f"{field}: {error.message}") from None
        except SecurityError as error:
            raise TemplateError(f"{field}: not allowed in a template: {error}") from None
        except (TypeError, ValueError, ArithmeticError) as error:
            raise TemplateError(f"{field}: template error: {error}") from None
