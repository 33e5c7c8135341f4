"""CKAN glue: actions, auth functions and validators of the plugin (``registry.get_actions`` is the
registry of every action, ``auth`` of every auth function), and the rights decisions they share
(``access``, ``visibility``, ``oracles``, ``inputs``). They call the domain and the stores.
"""
