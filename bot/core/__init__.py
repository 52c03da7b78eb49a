"""The core: domain types, services and their ports. Imports only the standard library and bot.core."""
