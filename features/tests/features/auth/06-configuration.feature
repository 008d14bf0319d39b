Feature: The verification key, issuer and audience come from the configuration

  Background:
    Given the retail estate

  @auth-6
  Scenario Outline: Without <variable> the service refuses to start
    Given the service setting <variable> is not set
    Then the service refuses to start, naming <variable>

    Examples:
      | variable                  |
      | STOCK_JWT_PUBLIC_KEY_FILE |
      | STOCK_JWT_ISSUER          |
      | STOCK_JWT_AUDIENCE        |

  @auth-6
  Scenario: A public key in PKCS#1 form is accepted too
    Given the service verifies tokens with the public key in PKCS#1 form
    And I am a Warehouse Manager
    When I read the stock at "WH01"
    Then the response status is 200

  @auth-6 @auth-2
  Scenario: The issuer is the configured one
    Given the service setting STOCK_JWT_ISSUER is "https://login.example.org"
    And I am a Warehouse Manager
    When I read the stock at "WH01"
    Then the response is 401 with body {"status":"Unauthorized"}
    Given my token's "iss" claim is "https://login.example.org"
    When I read the stock at "WH01"
    Then the response status is 200

  @auth-6 @auth-2
  Scenario: The audience is the configured one
    Given the service setting STOCK_JWT_AUDIENCE is "inventory"
    And I am a Warehouse Manager
    When I read the stock at "WH01"
    Then the response is 401 with body {"status":"Unauthorized"}
    Given my token's "aud" claim is ["stock-api","inventory"]
    When I read the stock at "WH01"
    Then the response status is 200
