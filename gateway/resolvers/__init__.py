"""Thin async functions behind schema fields: decode arguments, call services, return rows."""
