"""CKAN plugin classes. Each hook delegates to a module that holds the logic."""
from __future__ import annotations

import ckan.plugins as p
import ckan.plugins.toolkit as tk

from ckanext.sinp import cli, compat
from ckanext.sinp.logic import validators


@tk.blanket.config_declarations
class SinpPlugin(p.SingletonPlugin):
    """Core SINP plugin: configuration, templates and the ``ckan sinp`` commands."""

    p.implements(p.IConfigurer)
    p.implements(p.IClick)
    p.implements(p.IValidators)

    # IConfigurer

    def update_config(self, config_):
        tk.add_template_directory(config_, "templates")
        compat.fix_harvest_queue_socket_timeout()

    # IClick

    def get_commands(self):
        return cli.get_commands()

    # IValidators

    def get_validators(self):
        return validators.get_validators()
