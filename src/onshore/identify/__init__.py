"""Identify: who is calling, for which tenant, with which data-class floor."""
