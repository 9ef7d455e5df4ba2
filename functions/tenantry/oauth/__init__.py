"""The OAuth 2.1 authorization server: one implementation, deployed as a Lambda and run by `./dev local`."""
