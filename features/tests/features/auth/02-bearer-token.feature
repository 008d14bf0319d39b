Feature: Verifying the bearer token

  Background:
    Given the retail estate
    And I am a Warehouse Manager

  @auth-2
  Scenario Outline: Tokens signed with the identity provider's RSA key are accepted: <alg>
    Given my token is signed with <alg>
    When I send GET /locations/WH01/products/p1
    Then the response status is 200

    Examples:
      | alg   |
      | RS256 |
      | RS384 |
      | RS512 |

  @auth-2 @auth-3
  Scenario Outline: A token that cannot be trusted is unauthorized: <problem>
    Given <problem>
    When I send GET /locations/WH01/products/p1
    Then the response is 401 with body {"status":"Unauthorized"}
    And the response has no "WWW-Authenticate" header

    Examples:
      | problem                                                  |
      | my token is unsigned (alg none)                          |
      | my token is signed with HS256                            |
      | my token is signed with a key the service does not know  |
      | my token has been tampered with                          |
      | my token expired 1 hour ago                              |
      | my token expired 2 minutes ago                           |
      | my token has no "exp" claim                              |
      | my token only becomes valid in 1 hour                    |
      | my token only becomes valid in 2 minutes                 |
      | my token's "iss" claim is "https://evil.example.com"     |
      | my token's "iss" claim is "https://identity-provider.example.com/" |
      | my token has no "iss" claim                              |
      | my token's "aud" claim is "another-api"                  |
      | my token's "aud" claim is ["another-api","billing"]      |
      | my token has no "aud" claim                              |
      | my token has no "sub" claim                              |
      | my token has no "name" claim                             |
      | my token has no "job" claim                              |
      | my token's "job" claim is 42                             |
      | my token's "sub" claim is null                           |

  @auth-2
  Scenario Outline: Clock skew of 30 seconds and other tolerated claims: <detail>
    Given <detail>
    When I send GET /locations/WH01/products/p1
    Then the response status is 200

    Examples:
      | detail                                                    |
      | my token expired 10 seconds ago                           |
      | my token only becomes valid in 10 seconds                 |
      | my token became valid 1 hour ago                          |
      | my token's "aud" claim is ["billing","stock-api"]         |
      | my token's "iat" claim is 4102444800                      |
      | my token has no "iat" claim                               |
      | my token's "extra" claim is {"anything": true}            |

  @auth-2 @auth-3
  Scenario Outline: The header must be exactly "Bearer " and a token: <header>
    Given <header>
    When I send GET /locations/WH01/products/p1
    Then the response is 401 with body {"status":"Unauthorized"}
    And the response has no "WWW-Authenticate" header

    Examples:
      | header                                               |
      | I send no Authorization header                       |
      | I send my token with the prefix "bearer "            |
      | I send my token with the prefix "BEARER "            |
      | I send my token with the prefix "Bearer  "           |
      | I send my token with the prefix "Bearer"             |
      | I send my token with the prefix "Token "             |
      | I send my token with the prefix ""                   |
      | I send the Authorization header "Bearer"             |
      | I send the Authorization header "Bearer "            |
      | I send the Authorization header "Bearer not-a-jwt"   |
      | I send the Authorization header "Bearer a.b.c"       |
      | I send the Authorization header "Basic dXNlcjpwYXNz" |
