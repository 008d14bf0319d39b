Feature: Bodies of rejected requests

  Background:
    Given the retail estate

  @auth-3
  Scenario: An expired token an hour ago gets the Unauthorized body, without a challenge
    Given I am a Warehouse Manager
    And my token expired 1 hour ago
    When I send GET /locations/WH01/products/p1
    Then the response is 401 with body {"status":"Unauthorized"}
    And the response has no "WWW-Authenticate" header

  @auth-3 @auth-4
  Scenario: A job without the permission gets the PermissionDenied body
    Given I am a Regional Stock Auditor
    When I send POST /locations/WH01/products/p1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":1,"countedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 403 with body {"status":"PermissionDenied"}
    And the response has no "WWW-Authenticate" header

  @auth-3 @auth-5
  Scenario: A location outside the token's scope gets the PermissionDenied body
    Given I am a Warehouse Manager responsible for "WH02"
    When I send GET /locations/WH01/products/p1
    Then the response is 403 with body {"status":"PermissionDenied"}
