"""Chat templates that escape an unsandboxed Jinja2 renderer, each with a marker payload.

``{marker}`` is replaced by a file path; rendering the template with plain ``jinja2``
(no sandbox) runs ``touch`` on it. The differential test renders them in a subprocess.
"""

from __future__ import annotations

_U = "{% set u = 'XX'|replace('X', '_') %}"
_RUN = "[('po' ~ 'pen')]('touch {marker}').read()"

ESCAPES: dict[str, str] = {
    # computed item keys on namespace (Jinja2 falls back from item to attribute access)
    "namespace-computed-key": (
        _U + "{{ namespace[u ~ 'init' ~ u][u ~ 'glo' ~ 'bals' ~ u]['os']" + _RUN + " }}"),
    # the same through a key built by concatenation only
    "concat-key": (
        "{% set g = namespace['_' ~ '_init_' ~ '_']['_' ~ '_glo' ~ 'bals_' ~ '_'] %}"
        "{{ g['o' ~ 's']" + _RUN + " }}"),
    # map(attribute=<computed>)
    "map-computed-attribute": (
        _U + "{% set f = [namespace]|map(attribute=u ~ 'init' ~ u)|first %}"
        "{% set g = [f]|map(attribute=u ~ 'glo' ~ 'bals' ~ u)|first %}{{ g['os']" + _RUN
        + " }}"),
    # loop variable abuse
    "loop-computed-key": (
        _U + "{% for m in messages %}{% set c = loop[u ~ 'class' ~ u] %}"
        "{{ c[u ~ 'init' ~ u][u ~ 'glo' ~ 'bals' ~ u][u ~ 'builtins' ~ u][u ~ 'import' ~ u]"
        "('os')" + _RUN + " }}{% endfor %}"),
}

BENIGN: dict[str, str] = {
    "plain": "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n"
             "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}",
    "namespace-and-loop": (
        "{% set ns = namespace(sys_text='') %}{% for m in messages %}"
        "{% if m.role == 'system' %}{% set ns.sys_text = m.content|trim %}{% endif %}"
        "{% if loop.first %}{{ bos_token }}{% endif %}{{ m.content }}"
        "{% if not loop.last %}\n{% endif %}{% endfor %}{{ ns.sys_text }}"),
    "index-arithmetic": (
        "{% for m in messages[::-1] %}{% set index = (messages|length - 1) - loop.index0 %}"
        "{{ messages[index]['content'] }}{% endfor %}"),
    "tools": (
        "{% if tools %}{{ tools|map(attribute='function')|list|tojson }}{% endif %}"
        "{% for m in messages|selectattr('role', 'equalto', 'user') %}{{ m.content }}"
        "{% endfor %}{{ strftime_now('%d %b %Y') }}"),
}
