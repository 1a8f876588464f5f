// Placeholder so the test target builds until LossKit tests land (from the npyio branch).
